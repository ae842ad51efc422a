"""The shop's forms: placing an order and restocking a product."""

from __future__ import annotations

from django import forms

from example_project.shop.models import Product


class OrderForm(forms.Form):
    """Choose a product and a quantity; stock is checked by StockKeeper, not here."""

    product = forms.ModelChoiceField(queryset=Product.objects.all(), empty_label=None)
    quantity = forms.IntegerField(min_value=1, max_value=100, initial=1)


class RestockForm(forms.Form):
    """How many units to put back on the shelf."""

    quantity = forms.IntegerField(min_value=1, max_value=1000, initial=10)
