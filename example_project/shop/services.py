"""StockKeeper: a long-lived service object that keeps stock right, once per deployment.

One instance is created in ShopConfig.ready() and held by the app config for
the life of the process; FollowerMixin registers its @following methods when
it is created, by weak reference, so it receives exactly while it is held.

Its followers change rows, so each belongs to the follower group "stock":
under ``gunicorn -w 3`` on the Redis backend, every process has a
StockKeeper, yet each message is handled by one of them (restocking 10 adds
10, not 30). On the in-memory backend nothing changes: one process, once.
"""

from __future__ import annotations

import os

from django.db import transaction
from django.db.models import F

from berrymq_django import FollowerMixin, Message, following, twitter_on_commit
from example_project.shop.models import Order, Product


def worker() -> str:
    """Name this process the way the shop's pages show it."""
    return f"pid {os.getpid()}"


class StockKeeper(FollowerMixin):
    """Reserve stock for new orders, give it back for cancelled ones, add restocked units."""

    def __init__(self) -> None:
        self.handled = 0  # messages acted on in this process, shown on the activity page

    @following("order:*", group="stock")
    def on_order(self, message: Message) -> None:
        """Reserve stock on "order:created"; return it on "order:cancelled"."""
        if message.action == "created":
            self.reserve(message.args[0])
        elif message.action == "cancelled":
            self.release(message.kwargs["product"], message.kwargs["restock"])
        else:
            return
        self.handled += 1

    @following("stock:restock", group="stock")
    def on_restock(self, message: Message) -> None:
        """Add message.kwargs["quantity"] units to the product message.args[0]."""
        self.release(message.args[0], message.kwargs["quantity"])
        self.handled += 1

    def reserve(self, order_pk: int) -> None:
        """Take the order's quantity off the shelf, or mark it backordered if too few are left.

        A reserved order goes on to packing: "order:reserved" once the reservation commits.
        """
        with transaction.atomic():
            order = Order.objects.select_for_update().filter(pk=order_pk).first()
            if order is None or order.status != Order.Status.PENDING:
                return  # cancelled (or gone) before the message arrived
            # One conditional UPDATE: two orders racing for the last unit cannot both win.
            taken = Product.objects.filter(pk=order.product_id, stock__gte=order.quantity).update(
                stock=F("stock") - order.quantity
            )
            order.status = Order.Status.RESERVED if taken else Order.Status.BACKORDERED
            order.reserved_by = worker()
            # MODEL_EVENTS sends "shop.order:updated"
            order.save(update_fields=["status", "reserved_by"])
            if taken:
                twitter_on_commit("order:reserved", order.pk)

    def release(self, product_pk: int, quantity: int) -> None:
        """Put quantity units of a product back on the shelf."""
        if quantity:
            Product.objects.filter(pk=product_pk).update(stock=F("stock") + quantity)
