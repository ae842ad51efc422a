"""The local follower every benchmarked message must reach (autodiscovered at startup)."""

from __future__ import annotations

from bench.sites import IDENTIFIER
from berrymq_django import Message, following_function


class Received:
    """How many messages the follower got; one sync worker thread, so no lock."""

    count = 0


@following_function(IDENTIFIER)
def count_message(message: Message) -> None:
    """Count one delivered message."""
    Received.count += 1
