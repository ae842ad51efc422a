"""QueueStore: the buffer behind a pull Queue, safe for threads and event loops.

The sender never blocks and never takes a lock unless a consumer is
waiting: put() appends to a deque (atomic) and only then looks at the
waiter count. A consumer registers as a waiter under the condition's lock
*before* it re-checks the deque, so a put that saw no waiter must have
appended before that re-check, and the item is found. Waking is a signal,
never a hand-off: a consumer that times out or is cancelled takes nothing,
so no message is lost. Event-loop consumers are woken through their loop's
``_Wakeups``, in batches: one message fanned out to thousands of awaited
queues hands their loop a few callbacks, not one per queue, and the loop
resolves them ``WAKE_SLICE`` at a time, a slice per turn.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from queue import Empty
from time import monotonic
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .message import Message

__all__ = ["WAKE_SLICE", "Empty", "QueueStore"]

#: Event-loop consumers woken per turn of their loop. Each woken consumer is a
#: callback the loop holds until it runs; thousands held at once are what a full
#: garbage collection then walks, in the middle of answering them (a pause of
#: about 150 ms with 5,000 waiting long polls, ``python -m bench --only long_polls``).
WAKE_SLICE = 256


class _Consumer(Protocol):
    @property
    def closed(self) -> bool: ...


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Wakeups:
    """The waiters of one event loop to resolve, handed to it from any thread in batches.

    One ``call_soon_threadsafe`` per batch, not per waiter: a message fanned
    out to thousands of queues wakes their loop a few times, not once per
    queue, and the loop resolves what has come each time it runs.
    """

    __slots__ = ("_lock", "_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: _wakeups maps the loop to this, and a value must not keep its key alive.
        self._loop = weakref.ref(loop)
        self._lock = threading.Lock()
        self._pending: list[asyncio.Future[None]] = []

    def add(self, future: asyncio.Future[None]) -> None:
        with self._lock:
            self._pending.append(future)
            if len(self._pending) > 1:
                return  # a batch is on its way to the loop already
        loop = self._loop()
        try:
            if loop is None:
                raise RuntimeError("the event loop is gone")
            loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # a closed or collected loop: its waiters are gone anyway
            with self._lock:
                self._pending.clear()

    def _run(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        _resolve_from(pending, 0)


def _resolve_from(pending: list[asyncio.Future[None]], start: int) -> None:
    """Resolve WAKE_SLICE of pending from start; leave the rest to the loop's next turn."""
    end = start + WAKE_SLICE
    for future in pending[start:end]:
        _resolve(future)
    if end < len(pending):
        # Called on the loop: the consumers just woken run first, then the next slice.
        asyncio.get_running_loop().call_soon(_resolve_from, pending, end)


_wakeups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wakeups] = (
    weakref.WeakKeyDictionary()
)
_wakeups_lock = threading.Lock()


def _wakeups_of(loop: asyncio.AbstractEventLoop) -> _Wakeups:
    """Return loop's batch of wake-ups (made on first use, gone with the loop)."""
    wakeups = _wakeups.get(loop)
    if wakeups is None:
        with _wakeups_lock:
            wakeups = _wakeups.setdefault(loop, _Wakeups(loop))
    return wakeups


class QueueStore:
    """A FIFO of messages; with maxsize > 0 a full store drops its oldest message."""

    __slots__ = ("_async_waiters", "_cond", "_waiting", "closed", "dropped", "items", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self.items: deque[Message] = deque(maxlen=maxsize or None)
        self._cond = threading.Condition(threading.Lock())
        # Guarded by _cond; read without it by put() (see the module docstring).
        self._waiting = 0
        self._async_waiters: set[tuple[_Wakeups, asyncio.Future[None]]] = set()
        self.dropped = 0
        self.closed = False

    def put(self, message: Message) -> None:
        """Append message, dropping the oldest one when full; never block."""
        items = self.items
        if self.maxsize and len(items) >= self.maxsize:
            self.dropped += 1  # the deque's maxlen drops the oldest on append
        items.append(message)
        if self._waiting:
            self._wake(all_waiters=False)

    def _wake(self, *, all_waiters: bool) -> None:
        with self._cond:
            if all_waiters:
                self._cond.notify_all()
            else:
                self._cond.notify()
            for wakeups, future in self._async_waiters:
                wakeups.add(future)

    def get_nowait(self) -> Message:
        try:
            return self.items.popleft()
        except IndexError:
            raise Empty from None

    def _stopped(self, consumer: _Consumer | None) -> bool:
        return self.closed or (consumer is not None and consumer.closed)

    def get(
        self, block: bool = True, timeout: float | None = None, consumer: _Consumer | None = None
    ) -> Message:
        """Pop the oldest message, waiting up to timeout when block.

        A consumer (a Queue sharing this store) stops waiting once it is closed.
        """
        try:
            return self.items.popleft()
        except IndexError:
            if not block or self._stopped(consumer):
                raise Empty from None
        if timeout is not None and timeout < 0:
            raise ValueError(f"'timeout' must be a non-negative number, not {timeout!r}.")
        deadline = None if timeout is None else monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    try:
                        return self.items.popleft()
                    except IndexError:
                        pass
                    if self._stopped(consumer):
                        raise Empty
                    if deadline is None:
                        self._cond.wait()
                    else:
                        remaining = deadline - monotonic()
                        if remaining <= 0:
                            raise Empty
                        self._cond.wait(remaining)
            finally:
                self._waiting -= 1

    async def aget(
        self, timeout: float | None = None, consumer: _Consumer | None = None
    ) -> Message:
        try:
            return self.items.popleft()
        except IndexError:
            pass
        if timeout is not None and timeout < 0:
            raise ValueError(f"'timeout' must be a non-negative number, not {timeout!r}.")
        loop = asyncio.get_running_loop()
        wakeups = _wakeups_of(loop)
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            if self._stopped(consumer):
                raise Empty
            woken = loop.create_future()
            waiter = (wakeups, woken)
            timer = None
            with self._cond:
                self._async_waiters.add(waiter)
                self._waiting += 1
            try:
                try:
                    return self.items.popleft()
                except IndexError:
                    pass
                if deadline is not None:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        raise Empty
                    # asyncio.wait_for without its task and inner future: thousands of
                    # consumers wait at once, and each holds a timer and this frame only.
                    timer = loop.call_later(remaining, _resolve, woken)
                await woken
            finally:
                if timer is not None:
                    timer.cancel()
                with self._cond:
                    self._async_waiters.discard(waiter)
                    self._waiting -= 1
            # Woken (or timed out): take what came before waiting again.
            if not self._stopped(consumer):
                try:
                    return self.items.popleft()
                except IndexError:
                    pass

    def qsize(self) -> int:
        return len(self.items)

    @property
    def waiting(self) -> int:
        """How many consumers (threads and event-loop tasks) wait for a message now."""
        return self._waiting

    def full(self) -> bool:
        return bool(self.maxsize) and len(self.items) >= self.maxsize

    def close(self) -> None:
        """Stop blocking consumers: they drain what is buffered, then get Empty."""
        self.closed = True
        self.wake_all()

    def wake_all(self) -> None:
        """Make every waiting consumer look again (one of them was closed)."""
        self._wake(all_waiters=True)
