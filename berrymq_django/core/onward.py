"""Handing a batch of non-local messages onward: to the backend's transport and every relay.

``Dispatcher._forward`` does it for one message on the hot path of
twitter(); ``forward_many`` does it for the messages of one
``Dispatcher.send_many`` call (a peer's ``send_messages`` batch), so that a
relay that takes batches (``BatchRelay``, the peer links) is called once per
batch rather than once per message. A relay's failure is logged and the
other relays still get the messages, as ``_forward`` does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .contracts import BatchRelay

if TYPE_CHECKING:
    from .contracts import Relay, Transport
    from .message import Message

__all__ = ["forward_many"]

logger = logging.getLogger("berrymq")


def forward_many(transport: Transport, relays: tuple[Relay, ...], messages: list[Message]) -> None:
    """Publish each message on transport (if it forwards), then hand them to every relay."""
    if transport.forwards:
        publish = transport.publish
        for message in messages:
            publish(message)
    for relay in relays:
        if isinstance(relay, BatchRelay):
            try:
                relay.relay_many(messages)
            except Exception:
                logger.exception("berryMQ relay %r failed on %d message(s)", relay, len(messages))
            continue
        for message in messages:
            try:
                relay.relay(message)
            except Exception:
                logger.exception("berryMQ relay %r failed on message %r", relay, message.id)
