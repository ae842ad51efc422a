"""The in-memory backend, the default: nothing leaves the process.

A site on this backend runs as one process (threads for concurrency, e.g.
``gunicorn -w 1 --threads 8``): its JSON-RPC tokens, their queues and the
window of accepted uids live in that process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ..core.identifier import parse_identifier
from ..core.store import QueueStore
from .base import BaseBackend, Connection

if TYPE_CHECKING:
    from ..core.identifier import Identifier
    from ..core.message import Message

__all__ = ["MemoryBackend"]

# Bound on remembered uids, whatever the window: memory must not grow with traffic.
MAX_REMEMBERED_UIDS = 200_000


class _RemoteStore(QueueStore):
    """A connection's queue: local ("_") messages never leave the process."""

    __slots__ = ()

    def put(self, message: Message) -> None:
        if not parse_identifier(message.id).is_local:
            super().put(message)


class _ConnectionQueue:
    """Owns a connection's store; the dispatcher's subscription lives as long as this."""

    def __init__(self, backend: MemoryBackend, connection: Connection) -> None:
        assert backend.dispatcher is not None and connection.identifier is not None
        self.store = _RemoteStore(connection.maxsize)
        self.closed = False
        self._dispatcher = backend.dispatcher
        self._dispatcher.subscribe_queue(self, parse_identifier(connection.identifier), self.store)

    def close(self) -> None:
        self.closed = True
        self._dispatcher.unsubscribe_queue(self)
        self.store.close()


class MemoryBackend(BaseBackend):
    """Keep every message, shared queue and RPC connection in this process."""

    forwards = False

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"MemoryBackend takes no BACKEND_OPTIONS, got {sorted(options)!r}.")
        super().__init__()
        self._lock = threading.Lock()
        # Both guarded by _lock.
        self._connections: dict[str, tuple[Connection, _ConnectionQueue | None]] = {}
        self._uids: OrderedDict[str, float] = OrderedDict()

    def close(self) -> None:
        with self._lock:
            entries = list(self._connections.values())
            self._connections.clear()
        for _, queue in entries:
            if queue is not None:
                queue.close()

    def publish(self, message: Message) -> None:
        """Nothing to do: local delivery already happened."""

    def shared_store(self, identifier: Identifier, maxsize: int) -> QueueStore:
        return QueueStore(maxsize)

    # -- JSON-RPC state -----------------------------------------------------

    def accept_uid(self, uid: str, window: float) -> bool:
        return self.accept_uids([uid], window)[uid]

    def accept_uids(self, uids: list[str], window: float) -> dict[str, bool]:
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
                if uid in fresh:
                    continue  # repeated within the batch: the first one decides
                fresh[uid] = uid not in seen
                if fresh[uid]:
                    seen[uid] = now
        return fresh

    def open_connection(self, connection: Connection) -> None:
        connection.touch()
        queue = _ConnectionQueue(self, connection) if connection.style == "queue" else None
        self._expire()
        with self._lock:
            self._connections[connection.token] = (connection, queue)

    def get_connection(self, token: str) -> Connection | None:
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
        with self._lock:
            entry = self._connections.pop(token, None)
        if entry is None:
            return False
        if entry[1] is not None:
            entry[1].close()
        return True

    def connection_queue(self, connection: Connection) -> QueueStore:
        with self._lock:
            entry = self._connections.get(connection.token)
        if entry is None or entry[1] is None:
            raise LookupError(f"No queue for connection {connection.token[:8]}...")
        return entry[1].store

    def connections(self) -> list[Connection]:
        self._expire()
        with self._lock:
            return [connection for connection, _ in self._connections.values()]

    def _expire(self) -> None:
        now = time.time()
        with self._lock:
            expired = [t for t, (c, _) in self._connections.items() if c.expired(now)]
        for token in expired:
            self.close_connection(token)
