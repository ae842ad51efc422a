"""Queue: the pull API. Messages matching a filter wait until someone gets them."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from .identifier import Identifier
from .store import Empty, QueueStore

if TYPE_CHECKING:
    from .dispatcher import Dispatcher
    from .message import Message

__all__ = ["Empty", "Queue"]


class Queue:
    """Collect every message matching identifier until it is pulled.

    Standalone queues each get a copy of every matching message. Queues made
    with ``shared=True`` and the same identifier share one store, so each
    message is consumed once, by one of them. With ``maxsize > 0`` a full
    queue drops its oldest message (counted in ``dropped``); the sender never
    blocks. A closed or garbage-collected queue stops receiving.
    """

    def __init__(
        self,
        identifier: str | Identifier,
        shared: bool = False,
        maxsize: int = 0,
        *,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 0:
            raise ValueError(f"Queue maxsize must be an int of 0 or more, not {maxsize!r}.")
        if dispatcher is None:
            from .api import default_dispatcher

            dispatcher = default_dispatcher
        self.identifier = Identifier(identifier)
        self.shared = bool(shared)
        self._dispatcher = dispatcher
        self._closed = False
        if self.shared:
            self._store = dispatcher.shared_store(self, self.identifier, maxsize)
        else:
            self._store = QueueStore(maxsize)
            dispatcher.subscribe_queue(self, self.identifier, self._store)

    def get(self, block: bool = True, timeout: float | None = None) -> Message:
        """Remove and return the oldest message; wait for one if block (up to timeout).

        Raise Empty when none arrives in time, or at once when the queue is closed and drained.
        """
        return self._store.get(block and not self._closed, timeout)

    def get_nowait(self) -> Message:
        """Remove and return the oldest message, or raise Empty."""
        return self._store.get_nowait()

    async def aget(self, timeout: float | None = None) -> Message:
        """Wait without blocking the event loop; cancelling loses no message."""
        if self._closed:
            return self._store.get_nowait()
        return await self._store.aget(timeout)

    def qsize(self) -> int:
        return self._store.qsize()

    def empty(self) -> bool:
        return not self._store.qsize()

    def full(self) -> bool:
        return self._store.full()

    @property
    def maxsize(self) -> int:
        return self._store.maxsize

    @property
    def dropped(self) -> int:
        """How many messages were dropped because the queue was full."""
        return self._store.dropped

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop receiving; consumers drain what is buffered, then get Empty."""
        if self._closed:
            return
        self._closed = True
        self._dispatcher.unsubscribe_queue(self)
        if not self.shared:
            self._store.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Queue:
        return self

    def __next__(self) -> Message:
        """Iterate over what is buffered now, without waiting."""
        try:
            return self._store.get_nowait()
        except Empty:
            raise StopIteration from None

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        shared = " shared" if self.shared else ""
        return f"<Queue {self.identifier}{shared}{state} qsize={self.qsize()}>"
