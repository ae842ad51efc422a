"""Queue: the pull API. Messages matching a filter wait until someone gets them."""

from __future__ import annotations

import math
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
        # The in-process store's deque, popped directly on the fast path; other
        # stores (a shared queue in Redis) are asked through get_nowait().
        self._items = self._store.items if isinstance(self._store, QueueStore) else None

    def get(self, block: bool = True, timeout: float | None = None) -> Message:
        """Remove and return the oldest message; wait for one if block (up to timeout).

        Raise Empty when none arrives in time, or at once when the queue is closed and drained.
        timeout is seconds (None or infinity: no limit); TypeError or ValueError name a
        timeout that is not a number of 0 or more.
        """
        timeout = checked_timeout(timeout)
        if self._closed and self.shared and not self._store.closed:
            raise Empty  # what is buffered belongs to the queues still open
        return self._store.get(block and not self._closed, timeout, self)

    def get_nowait(self) -> Message:
        """Remove and return the oldest message, or raise Empty."""
        if self._closed and self.shared and not self._store.closed:
            raise Empty  # what is buffered belongs to the queues still open
        items = self._items
        if items is None:
            return self._store.get_nowait()
        try:
            return items.popleft()
        except IndexError:
            raise Empty from None

    async def aget(self, timeout: float | None = None) -> Message:
        """Wait without blocking the event loop; cancelling loses no message."""
        timeout = checked_timeout(timeout)
        if self._closed:
            return self.get(block=False)
        return await self._store.aget(timeout, self)

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
        if self._dispatcher.unsubscribe_queue(self):
            self._store.close()  # the last consumer: drain what is left, then Empty
        else:
            self._store.wake_all()  # our blocked consumers see we are closed

    def delete(self) -> None:
        """Close the queue and withdraw it for good where its store outlives the process.

        A shared queue on a backend that keeps it between processes (Redis)
        survives ``close()`` and a process's exit, collecting messages for the
        consumers to come until its lease runs out; ``delete()`` stops that
        now, for this process's consumers, and drops what is queued when no
        other process consumes it. Elsewhere it is ``close()``. It closes the
        queue even when the store raises (say, Redis cannot be reached).
        """
        delete = getattr(self._store, "delete", None)  # optional: not part of Store
        try:
            if delete is not None:
                delete()
        finally:
            self.close()

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
            return self.get(block=False)
        except Empty:
            raise StopIteration from None

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        shared = " shared" if self.shared else ""
        return f"<Queue {self.identifier}{shared}{state} qsize={self.qsize()}>"


def checked_timeout(timeout: object) -> float | None:
    """Return a get() timeout in seconds, None for no limit; raise naming a bad one."""
    if timeout is None:
        return None
    if not isinstance(timeout, int | float) or isinstance(timeout, bool):
        raise TypeError(
            f"'timeout' must be a number of seconds or None, not {type(timeout).__name__} "
            f"({timeout!r})."
        )
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"'timeout' must be a non-negative number, not {timeout!r}.")
    return None if math.isinf(timeout) or timeout > _LONGEST_WAIT else float(timeout)


# Waits past this many seconds overflow the platform's clock; they mean "no limit".
_LONGEST_WAIT = 100 * 365 * 24 * 3600.0
