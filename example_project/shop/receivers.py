"""The shop's function followers and its packing queue, imported at start-up by autodiscovery."""

from __future__ import annotations

import logging
from collections import deque

from django.db import transaction

from berrymq_django import Message, Queue, following_function, twitter_on_commit
from example_project.demo.receivers import describe
from example_project.shop.models import Order
from example_project.shop.services import worker

logger = logging.getLogger(__name__)

# The newest order and stock messages, for the activity page.
order_log: deque[str] = deque(maxlen=50)


@following_function("order:*")
def log_order(message: Message) -> None:
    """Log every order message (placed, reserved, packed, cancelled, shipped)."""
    line = describe(message)
    order_log.append(line)
    logger.info("berryMQ %s", line)


@following_function("stock:restock")
async def log_restock(message: Message) -> None:
    """Log a restock; an async follower, awaited by atwitter() in the async restock view."""
    line = describe(message)
    order_log.append(line)
    logger.info("berryMQ %s", line)


@following_function("order:reserved", group="packing")
def pack(message: Message) -> None:
    """Pack a reserved order's parcel, once per deployment (group "packing").

    A plain follower would pack it in every worker process; in the group one
    of them does. The packed order then waits on the packing queue to ship.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=message.args[0]).first()
        if order is None or order.status != Order.Status.RESERVED:
            return  # cancelled (or gone) before its parcel was made
        order.status, order.packed_by = Order.Status.PACKED, worker()
        order.save(update_fields=["status", "packed_by"])
        twitter_on_commit("order:packed", order.pk)


# Pull side: packed orders wait here until someone ships them from the packing page.
# Shared: with several worker processes (Redis), each order is taken by one of them.
# Bounded: if nobody ships, the oldest are dropped (and counted) rather than piling up.
packing = Queue("order:packed", shared=True, maxsize=1000)
