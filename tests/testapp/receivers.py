"""Followers of the test app; importing this module registers them."""

from __future__ import annotations

from berrymq_django import Message, following_function
from tests.testapp import imported_modules

imported_modules.append(__name__)

# Every "testapp:*" message delivered to record(), in order.
received: list[Message] = []


@following_function("testapp:*")
def record(message: Message) -> None:
    """Keep the message for the test to inspect."""
    received.append(message)
