"""JSON-RPC state in this process: connections, their queues, the window of accepted uids.

A site on the memory backend runs as one process (threads for concurrency,
e.g. ``gunicorn -w 1 --threads 8``): its tokens, their queues and the uids
it accepted live here, and nothing else serves them.

A "queue" connection's store is subscribed to the dispatcher the state is
bound to, and collects every matching message except local ("_") ones,
which never leave the process. The uid window is bounded whatever the
window and the traffic (MAX_REMEMBERED_UIDS, oldest forgotten first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..core.exceptions import UnencodableMessage
from ..core.identifier import parse_identifier
from ..core.store import QueueStore
from ..rpc.protocol import encode

if TYPE_CHECKING:
    from ..core.identifier import Identifier
    from ..core.message import Message
    from ..rpc.connections import Connection

__all__ = ["MAX_REMEMBERED_UIDS", "MemoryConnectionState", "QueueSubscriptions"]

# Bound on remembered uids, whatever the window: memory must not grow with traffic.
MAX_REMEMBERED_UIDS = 200_000


@runtime_checkable
class QueueSubscriptions(Protocol):
    """What the state needs from a dispatcher: subscribing a queue's store to a pattern."""

    def subscribe_queue(self, owner: Any, identifier: Identifier, store: QueueStore, /) -> Any: ...

    def unsubscribe_queue(self, owner: Any, /) -> bool: ...


class _RemoteStore(QueueStore):
    """A connection's queue: local ("_") messages never leave the process.

    A message its get could not answer (arguments no JSON can hold: a value
    that refers to itself, nesting past the encoders) is refused here with
    UnencodableMessage, so the sender's error rule logs and counts it, rather
    than taken by a get that then fails with -32603 and loses it.
    """

    __slots__ = ()

    def put(self, message: Message) -> None:
        if parse_identifier(message.id).is_local:
            return
        try:
            encode({"result": message.to_dict()})  # what get answers, written the same way
        except ValueError as exc:
            raise UnencodableMessage(
                f"{message.id!r} (uid {message.uid}) cannot be queued for a JSON-RPC client: {exc}"
            ) from None
        super().put(message)


class _ConnectionQueue:
    """Owns a connection's store; the dispatcher's subscription lives as long as this."""

    def __init__(self, subscriptions: QueueSubscriptions, pattern: str, maxsize: int) -> None:
        self.store = _RemoteStore(maxsize)
        self._subscriptions = subscriptions
        subscriptions.subscribe_queue(self, parse_identifier(pattern), self.store)

    def close(self) -> None:
        self._subscriptions.unsubscribe_queue(self)
        self.store.close()


class MemoryConnectionState:
    """Implement ``rpc.connections.ConnectionState`` inside one process.

    Thread safety: ``_lock`` guards ``_connections`` and ``_uids``; queues
    are subscribed and closed outside it.
    """

    #: No other process shares it: a token is served by this process only.
    shared = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: QueueSubscriptions | None = None
        self._connections: dict[str, tuple[Connection, _ConnectionQueue | None]] = {}
        self._uids: OrderedDict[str, float] = OrderedDict()

    def bind(self, subscriptions: QueueSubscriptions) -> None:
        """Subscribe queue connections to this dispatcher from now on."""
        self._subscriptions = subscriptions

    def accept_uid(self, uid: str, window: float) -> bool:
        """Record uid; return False when it was already accepted in the last window seconds."""
        return self.accept_uids([uid], window)[uid]

    def accept_uids(self, uids: list[str], window: float) -> dict[str, bool]:
        """Record uids; map each to whether it is new (a repeat in the batch: the first one)."""
        now = time.monotonic()
        seen = self._uids
        fresh: dict[str, bool] = {}
        with self._lock:
            # Oldest first: drop what fell out of the window, and keep the bound.
            while seen and (
                len(seen) >= MAX_REMEMBERED_UIDS or next(iter(seen.values())) < now - window
            ):
                seen.popitem(last=False)
            for uid in uids:
                if uid in seen:
                    # Seen before, or repeated within the batch (then the first one decides).
                    fresh.setdefault(uid, False)
                else:
                    seen[uid] = now
                    fresh[uid] = True
        return fresh

    def forget_uids(self, uids: list[str]) -> None:
        """Drop uids, so a retry of the call that failed after accepting them is accepted."""
        with self._lock:
            for uid in uids:
                self._uids.pop(uid, None)

    def open_connection(self, connection: Connection) -> None:
        """Store connection; a "queue" one starts collecting its messages now.

        Raise RuntimeError for a "queue" connection before bind() (no dispatcher to
        collect from), ValueError when it has no identifier.
        """
        connection.touch()
        queue = None
        if connection.style == "queue":
            if connection.identifier is None:
                raise ValueError("A queue connection needs an identifier.")
            if self._subscriptions is None:
                raise RuntimeError(
                    "MemoryConnectionState is not bound to a dispatcher: call bind() first."
                )
            queue = _ConnectionQueue(self._subscriptions, connection.identifier, connection.maxsize)
        self._expire()
        with self._lock:
            self._connections[connection.token] = (connection, queue)

    def get_connection(self, token: str) -> Connection | None:
        """Return token's live connection, extending its expiry; None if unknown or expired."""
        with self._lock:
            entry = self._connections.get(token)
        if entry is None:
            return None
        connection = entry[0]
        if connection.expired():
            self.close_connection(token)
            return None
        connection.touch()
        return connection

    def close_connection(self, token: str) -> bool:
        """Forget a connection and its queue; return whether it existed."""
        with self._lock:
            entry = self._connections.pop(token, None)
        if entry is None:
            return False
        if entry[1] is not None:
            entry[1].close()
        return True

    def connection_queue(self, connection: Connection) -> QueueStore:
        """Return the store a "queue" connection pulls from; LookupError if it has none."""
        with self._lock:
            entry = self._connections.get(connection.token)
        if entry is None or entry[1] is None:
            raise LookupError(f"No queue for connection {connection.token[:8]}...")
        return entry[1].store

    def connections(self) -> list[Connection]:
        """Return every live connection."""
        self._expire()
        with self._lock:
            return [connection for connection, _ in self._connections.values()]

    def waiting(self) -> int:
        """Return how many gets wait now on this process's connection queues."""
        with self._lock:
            queues = [queue for _, queue in self._connections.values() if queue is not None]
        return sum(queue.store.waiting for queue in queues)

    def close(self) -> None:
        """Close every connection's queue (the backend is being replaced)."""
        with self._lock:
            entries = list(self._connections.values())
            self._connections.clear()
        for _, queue in entries:
            if queue is not None:
                queue.close()

    def _expire(self) -> None:
        now = time.time()
        with self._lock:
            expired = [t for t, (c, _) in self._connections.items() if c.expired(now)]
        for token in expired:
            self.close_connection(token)
