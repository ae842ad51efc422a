"""The shop's two models: products with their stock, and orders for them."""

from __future__ import annotations

from django.db import models


class Product(models.Model):
    """Something to sell; ``stock`` is how many are on the shelf, not yet reserved."""

    name = models.CharField(max_length=100, unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    """An order for a quantity of one product; StockKeeper moves it along its statuses."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"  # placed; stock not looked at yet
        RESERVED = "reserved", "reserved"  # stock taken off the shelf for it
        BACKORDERED = "backordered", "backordered"  # not enough stock when placed
        PACKED = "packed", "packed"  # its parcel is ready, waiting on the packing queue
        SHIPPED = "shipped", "shipped"  # taken off the packing queue and sent
        CANCELLED = "cancelled", "cancelled"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    # Which worker process did each step ("pid 1234"): with several workers on the Redis
    # backend, each step runs in one of them, once.
    reserved_by = models.CharField(max_length=40, blank=True)
    packed_by = models.CharField(max_length=40, blank=True)
    shipped_by = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"Order #{self.pk}: {self.quantity} x {self.product}"

    @property
    def can_cancel(self) -> bool:
        """Return whether the order may still be cancelled (it has not left)."""
        return self.status not in (self.Status.SHIPPED, self.Status.CANCELLED)

    @property
    def holds_stock(self) -> bool:
        """Return whether units were taken off the shelf for it (reserved or packed)."""
        return self.status in (self.Status.RESERVED, self.Status.PACKED)
