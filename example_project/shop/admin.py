"""Admin for the shop: edit products and orders (saving an order sends its model event)."""

from __future__ import annotations

from django.contrib import admin

from example_project.shop.models import Order, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """List products with their price and stock."""

    list_display = ("name", "price", "stock")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """List orders with their status."""

    list_display = ("pk", "product", "quantity", "status", "created_at")
    list_filter = ("status",)
