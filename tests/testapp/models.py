"""Models over the shop's Order that reach its rows by other classes: a proxy, a child."""

from __future__ import annotations

from django.db import models

from example_project.shop.models import Order


class RushOrder(Order):
    """A proxy: the same rows as Order, another Python class."""

    class Meta:
        proxy = True


class GiftOrder(Order):
    """A multi-table child: each row has a parent row in Order's table."""

    note = models.CharField(max_length=100, default="")


class RushGiftOrder(GiftOrder):
    """A proxy of the child."""

    class Meta:
        proxy = True
