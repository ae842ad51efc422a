"""Queues whose messages live in a Redis list: shared Queues and JSON-RPC queue connections.

Messages reach these lists through the publishing script (see redis_wire),
once per list whatever the number of processes; here they are only popped,
so each message is taken exactly once across processes. Blocking waits are
cut into short BLPOPs, which keeps every deadline (the last tenth of a second
is polled, as Redis may answer a BLPOP late) and lets a closed consumer stop
waiting. When Redis cannot be reached, a get waits out its timeout and
raises Empty; it never raises a connection error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from queue import Empty
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

from .redis_wire import decode

if TYPE_CHECKING:
    from ..core.identifier import Identifier
    from ..core.message import Message
    from .redis import RedisBackend

__all__ = ["RedisListQueue", "RedisSharedStore"]

# Longest single wait: how late a closed consumer or a local message is noticed.
WAIT_SLICE = 0.3
# Redis checks blocked clients' timeouts hz times a second (10 by default), so a
# BLPOP may return this much late: it waits that much less, and the last bit of
# a deadline is spent polling with LPOP every POLL_PAUSE instead.
REDIS_LATENESS = 0.1
POLL_PAUSE = 0.02
# Pause between attempts while Redis is unreachable.
RETRY_PAUSE = 0.1


class _Consumer(Protocol):
    @property
    def closed(self) -> bool: ...


class RedisListQueue:
    """Pop messages from one Redis list: the pull side of a queue connection."""

    def __init__(self, backend: RedisBackend, key: str, maxsize: int = 0) -> None:
        self.backend = backend
        self.key = key
        self.maxsize = maxsize
        self.closed = False

    # -- the ConnectionQueue protocol ----------------------------------------

    def get(
        self, block: bool = True, timeout: float | None = None, consumer: _Consumer | None = None
    ) -> Message:
        """Pop the oldest message, waiting up to timeout when block; raise Empty otherwise."""
        item = self._pop(block, timeout, consumer)
        if item is None:
            raise Empty
        return _as_message(item)

    def get_nowait(self) -> Message:
        return self.get(block=False)

    def qsize(self) -> int:
        try:
            return int(self.backend.client().llen(self.key))
        except RedisError as exc:
            self.backend.note_error(exc)
            return 0

    @property
    def dropped(self) -> int:
        """Messages dropped (oldest first) because the list held maxsize."""
        try:
            return int(self.backend.client().get(self.key + ":dropped") or 0)
        except RedisError as exc:
            self.backend.note_error(exc)
            return 0

    # -- popping ------------------------------------------------------------

    def _pop(self, block: bool, timeout: float | None, consumer: _Consumer | None) -> Any:
        """Return one item (raw bytes from Redis, or a local Message), or None in time."""
        if timeout is not None and timeout < 0:
            raise ValueError(f"'timeout' must be a non-negative number, not {timeout!r}.")
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            item = self._pop_local()
            if item is not None:
                return item
            wait = 0.0
            if block and not (self.closed or (consumer is not None and consumer.closed)):
                wait = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - monotonic())
            try:
                if wait > 2 * REDIS_LATENESS:
                    popped = self.backend.client().blpop([self.key], timeout=wait - REDIS_LATENESS)
                    if popped is not None:
                        return popped[1]
                    continue
                item = self.backend.client().lpop(self.key)
            except RedisError as exc:
                self.backend.note_error(exc)
                if wait <= 0:
                    return None
                sleep(min(RETRY_PAUSE, wait))  # refused at once: do not spin
                continue
            if item is not None or wait <= 0:
                return item
            sleep(min(POLL_PAUSE, wait))

    def _pop_local(self) -> Any:
        return None


def _as_message(item: Any) -> Message:
    if isinstance(item, bytes):
        return decode(item)
    message: Message = item  # a local message, kept in this process as is
    return message


class RedisSharedStore(RedisListQueue):
    """The store behind the shared Queues of one identifier, in a Redis list.

    put() keeps only local ("_") messages, in this process: they must never
    leave it. Non-local messages reach the Redis list from whichever process
    sent them, so put() ignores them. Consumers take local messages first.
    """

    def __init__(
        self,
        backend: RedisBackend,
        key: str,
        maxsize: int,
        identifier: Identifier,
        member: str,
    ) -> None:
        super().__init__(backend, key, maxsize)
        self.identifier = identifier
        self.member = member  # this process's entry in P:routes
        self._local: deque[Message] = deque(maxlen=maxsize or None)
        self._local_dropped = 0

    # -- the QueueStore interface ----------------------------------------------

    def put(self, message: Message) -> None:
        """Keep a local message; ignore the others (they are in Redis already)."""
        if self.closed or not message.id.startswith("_"):
            return
        local = self._local
        if self.maxsize and len(local) >= self.maxsize:
            self._local_dropped += 1
        local.append(message)

    async def aget(
        self, timeout: float | None = None, consumer: _Consumer | None = None
    ) -> Message:
        """Wait in a worker thread; a message popped for a cancelled waiter goes back first."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._pop, True, timeout, consumer)
        try:
            item = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._give_back)
            raise
        if item is None:
            raise Empty
        return _as_message(item)

    def _give_back(self, future: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception):
            item = future.result()
            if isinstance(item, bytes):
                self.backend.client().lpush(self.key, item)
            elif item is not None:
                self._local.appendleft(item)

    def qsize(self) -> int:
        return len(self._local) + super().qsize()

    def full(self) -> bool:
        return bool(self.maxsize) and self.qsize() >= self.maxsize

    @property
    def dropped(self) -> int:
        return self._local_dropped + super().dropped

    def close(self) -> None:
        """The last consumer in this process closed: stop collecting; others carry on."""
        self.closed = True
        self.backend.forget_store(self)

    def wake_all(self) -> None:
        """Nothing to do: a waiting consumer sees its queue closed within one wait slice."""

    def _pop_local(self) -> Any:
        try:
            return self._local.popleft()
        except IndexError:
            return None
