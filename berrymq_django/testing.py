"""Helpers for testing code that sends or follows berryMQ messages.

    from berrymq_django.testing import capture_messages, isolated

    with capture_messages("order:*") as outbox:
        place_order()
    assert outbox.ids == ["order:created"]

    with isolated(raise_errors=True):
        ...  # no followers but the ones made here; they are gone afterwards

The pytest plugin (``berrymq_django.pytest_plugin``) wraps both in fixtures.
Nothing here needs Django settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.identifier import Identifier
from berrymq_django.core.message import Message

__all__ = ["Outbox", "capture_messages", "isolated"]


class Outbox(list[Message]):
    """The messages a capture received, oldest first: a list, like ``django.core.mail.outbox``."""

    @property
    def ids(self) -> list[str]:
        """Return the identifier of each message as it was sent, in order."""
        return [message.id for message in self]

    def filter(self, pattern: str) -> list[Message]:
        """Return the messages matching pattern ("order:*", "*:created"), in order."""
        selector = Identifier(pattern)
        return [message for message in self if selector.matches(message.identifier)]


@contextmanager
def capture_messages(
    pattern: str = "*:*", *, dispatcher: Dispatcher | None = None
) -> Iterator[Outbox]:
    """Record every message matching pattern while the block runs; yield the Outbox.

    The recording follower is removed on exit. It is an ordinary follower: it sees
    a message after the followers registered before it, and a pattern without
    ``@`` sees no namespaced message (capture ``"*@eu:*"`` for those).
    ``dispatcher`` defaults to ``default_dispatcher``.
    """
    if dispatcher is None:
        dispatcher = default_dispatcher
    outbox = Outbox()

    def record(message: Message) -> None:
        outbox.append(message)

    dispatcher.register_function(pattern, record)
    try:
        yield outbox
    finally:
        dispatcher.unregister(record)


@contextmanager
def isolated(
    *, raise_errors: bool | None = None, dispatcher: Dispatcher | None = None
) -> Iterator[Dispatcher]:
    """Run the block with a fresh dispatcher: no followers or queues, error count 0; yield it.

    Followers and queues made inside are gone on exit, and those from before (the
    receivers modules') come back, with the error count and error policy.
    ``raise_errors`` sets the policy inside: True lets follower exceptions reach
    the sender. ``dispatcher`` defaults to ``default_dispatcher``.
    """
    if dispatcher is None:
        dispatcher = default_dispatcher
    with dispatcher.isolate():
        dispatcher.error_count = 0
        if raise_errors is not None:
            dispatcher.raise_errors = raise_errors
        yield dispatcher
