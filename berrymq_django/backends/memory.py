"""The in-memory backend, the default: nothing leaves the process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.store import QueueStore
from .base import BaseBackend

if TYPE_CHECKING:
    from ..core.identifier import Identifier
    from ..core.message import Message

__all__ = ["MemoryBackend"]


class MemoryBackend(BaseBackend):
    """Keep every message and shared queue in this process.

    A site on this backend runs as one process (threads for concurrency);
    switch to the Redis backend to span several workers or hosts.
    """

    forwards = False

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"MemoryBackend takes no BACKEND_OPTIONS, got {sorted(options)!r}.")
        super().__init__()

    def publish(self, message: Message) -> None:
        """Nothing to do: local delivery already happened."""

    def shared_store(self, identifier: Identifier, maxsize: int) -> QueueStore:
        return QueueStore(maxsize)
