"""The shop's function followers and its packing queue, imported at start-up by autodiscovery."""

from __future__ import annotations

import logging
from collections import deque

from berrymq_django import Message, Queue, following_function
from example_project.demo.receivers import describe

logger = logging.getLogger(__name__)

# The newest order and stock messages, for the activity page.
order_log: deque[str] = deque(maxlen=50)


@following_function("order:*")
def log_order(message: Message) -> None:
    """Log every order message (placed, cancelled, shipped)."""
    line = describe(message)
    order_log.append(line)
    logger.info("berryMQ %s", line)


@following_function("stock:restock")
async def log_restock(message: Message) -> None:
    """Log a restock; an async follower, awaited by atwitter() in the async restock view."""
    line = describe(message)
    order_log.append(line)
    logger.info("berryMQ %s", line)


# Pull side: orders wait here until someone packs them on the packing page.
# Bounded: if nobody packs, the oldest are dropped (and counted) rather than piling up.
packing = Queue("order:created", maxsize=1000)
