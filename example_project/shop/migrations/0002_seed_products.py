"""Put a few products on the shelf, so the shop works right after ``make run``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import migrations

PRODUCTS = [
    ("Blueberry jam", Decimal("4.50"), 12),
    ("Raspberry jam", Decimal("4.90"), 5),
    ("Strawberry jam", Decimal("3.90"), 0),
]


def seed(apps: Any, schema_editor: Any) -> None:
    """Create the sample products that are not there yet."""
    product_model = apps.get_model("shop", "Product")
    for name, price, stock in PRODUCTS:
        product_model.objects.get_or_create(name=name, defaults={"price": price, "stock": stock})


def unseed(apps: Any, schema_editor: Any) -> None:
    """Remove the sample products that no order refers to."""
    product_model = apps.get_model("shop", "Product")
    names = [name for name, _, _ in PRODUCTS]
    product_model.objects.filter(name__in=names, orders__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = (("shop", "0001_initial"),)

    operations = (migrations.RunPython(seed, unseed),)
