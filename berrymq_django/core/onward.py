"""Where a non-local message goes once this process's followers had it.

``Onward`` is the part of the Dispatcher that hands each non-local message
sent here onward: to the backend (``backend.publish``, the other processes
of the site) and to every relay (peer links). A ``Forwarder`` may take that
over (``set_forwarder``): it then gets each message instead, and decides
itself how the backend and the relays are reached (the durable outbox
writes a row per destination, which a relay sends later).

A relay's failure is logged and contained; a forwarder's propagates to the
sender, as a failed write would (the outbox: its database is unavailable,
the message's arguments are no JSON).

``_forward_many`` does the same for the messages of one ``send_many`` call
(a peer's ``send_messages`` batch), so that a relay that takes batches
(``BatchRelay``, the peer links) is called once per batch rather than once
per message.

Thread safety: ``_relays`` and ``_forwarder`` are replaced, never changed,
under the dispatcher's lock; the send path reads them without it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from .contracts import BatchRelay

if TYPE_CHECKING:
    from .contracts import Backend, Forwarder, Relay
    from .message import Message
    from .subscription import Route

__all__ = ["Onward"]

logger = logging.getLogger("berrymq")


class Onward:
    """Hand non-local messages to the backend and the relays, or to one forwarder."""

    backend: Backend
    _lock: threading.Lock
    _relays: tuple[Relay, ...] = ()
    _forwarder: Forwarder | None = None

    if TYPE_CHECKING:

        def _invalidate(self) -> None: ...

        def _lookup(self, identifier: str) -> Route: ...

    def leaves(self, identifier: str) -> bool:
        """Whether a message of identifier goes beyond this process (not local, and a
        backend or relay carries messages). Raises ValueError naming a bad identifier."""
        return self._lookup(identifier).forward

    def _forward(self, message: Message) -> None:
        forwarder = self._forwarder
        if forwarder is not None:
            forwarder.forward(message)
            return
        self.publish_and_relay(message)

    def _forward_many(self, messages: list[Message]) -> None:
        forwarder = self._forwarder
        if forwarder is not None:
            for message in messages:
                forwarder.forward(message)
            return
        if self.backend.forwards:
            publish = self.backend.publish
            for message in messages:
                publish(message)
        for relay in self._relays:
            if isinstance(relay, BatchRelay):
                try:
                    relay.relay_many(messages)
                except Exception:
                    logger.exception(
                        "berryMQ relay %r failed on %d message(s)", relay, len(messages)
                    )
                continue
            for message in messages:
                try:
                    relay.relay(message)
                except Exception:
                    logger.exception("berryMQ relay %r failed on message %r", relay, message.id)

    def publish_and_relay(self, message: Message) -> None:
        """Publish message on the backend and hand it to every relay (what forwarding does)."""
        if self.backend.forwards:
            self.backend.publish(message)
        for relay in self._relays:
            try:
                relay.relay(message)
            except Exception:
                logger.exception("berryMQ relay %r failed on message %r", relay, message.id)

    @property
    def relays(self) -> tuple[Relay, ...]:
        """The relays non-local messages are handed to (peer links), in the order added."""
        return self._relays

    @property
    def forwarder(self) -> Forwarder | None:
        """The forwarder that takes over onward delivery, None when there is none."""
        return self._forwarder

    def set_forwarder(self, forwarder: Forwarder | None) -> None:
        """Give every non-local message to forwarder.forward() instead of backend and relays.

        None restores the default (publish, then each relay). The forwarder's
        exceptions reach the sender.
        """
        with self._lock:
            self._forwarder = forwarder
            self._invalidate()

    def add_relay(self, relay: Relay) -> None:
        """Hand every non-local message sent here to relay.relay(message) (peering)."""
        with self._lock:
            self._relays = (*self._relays, relay)
            self._invalidate()

    def remove_relay(self, relay: Relay) -> None:
        """Stop handing messages to relay; unknown relays are ignored."""
        with self._lock:
            self._relays = tuple(r for r in self._relays if r is not relay)
            self._invalidate()

    def _forwarding(self) -> bool:
        return self.backend.forwards or bool(self._relays)
