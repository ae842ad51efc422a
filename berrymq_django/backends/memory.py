"""The in-memory backend, the default: nothing leaves the process.

Messages and shared queues stay in this process (``core.local.LocalBackend``
does that part); the JSON-RPC state lives here too (``memory_state``). A
site on this backend runs as one process, with threads for concurrency
(e.g. ``gunicorn -w 1 --threads 8``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.local import LocalBackend
from .memory_state import MemoryConnectionState, QueueSubscriptions

if TYPE_CHECKING:
    from ..core.contracts import Inbox

__all__ = ["MemoryBackend"]


class MemoryBackend(LocalBackend):
    """Keep every message, shared queue and JSON-RPC connection in this process.

    Takes no options: any is a TypeError naming it.
    """

    connection_state: MemoryConnectionState

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"MemoryBackend takes no BACKEND_OPTIONS, got {sorted(options)!r}.")
        self.options: dict[str, Any] = {}
        self.connection_state = MemoryConnectionState()

    def bind(self, inbox: Inbox) -> None:
        """Attach to the dispatcher: queue connections subscribe to it."""
        if isinstance(inbox, QueueSubscriptions):
            self.connection_state.bind(inbox)

    def close(self) -> None:
        """Close every queue connection (the backend is being replaced)."""
        self.connection_state.close()

    def status(self) -> dict[str, Any]:
        """Report the backend: always connected, as nothing leaves the process."""
        return {"backend": "memory", "connected": True}
