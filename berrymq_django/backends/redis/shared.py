"""Queues whose messages live in a Redis list: shared Queues and JSON-RPC queue connections.

Messages reach these lists through the publishing script (see wire.PUBLISH),
once per list whatever the number of processes; here they are only popped,
so each message is taken exactly once across processes. Blocking waits are
cut into short BLPOPs, which keeps every deadline (the last tenth of a second
is polled, as Redis may answer a BLPOP late) and lets a closed consumer stop
waiting. When Redis cannot be reached, a get waits out its timeout and
raises Empty; it never raises a connection error. Once the backend is
closed, a get raises BackendClosed rather than wait for ever.

Routes and their lease: a process consuming a shared queue has an entry in
``P:routes`` (its route), which its sender renews every few seconds. The
route outlives the process's consumers by SHARED_LEASE seconds whatever
ends them: closing the last Queue, a graceful exit or a crash (SIGKILL)
alike, so a restarted consumer finds every message sent meanwhile. A graceful
exit is never less durable than a crash. Only ``delete()`` removes a route
at once, and drops the list when no other process consumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections import deque
from queue import Empty
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

from .client import BackendClosed
from .wire import DELETE_SHARED, decode, milliseconds, route_member

if TYPE_CHECKING:
    import redis

    from ...core.identifier import Identifier
    from ...core.message import Message
    from .client import SharedClient
    from .options import RedisOptions
    from .wire import Keys

__all__ = ["RedisListQueue", "RedisSharedStore", "SharedQueues"]

# Longest single wait: how late a closed consumer or a local message is noticed.
WAIT_SLICE = 0.3
# Redis checks blocked clients' timeouts hz times a second (10 by default), so a
# BLPOP may return this much late: it waits that much less, and the last bit of
# a deadline is spent polling with LPOP every POLL_PAUSE instead.
REDIS_LATENESS = 0.1
POLL_PAUSE = 0.02
# Pause between attempts while Redis is unreachable.
RETRY_PAUSE = 0.1
# Longest pause between renewals of this process's routes (seconds).
HEARTBEAT = 5.0
# Routes remembered to put back after Redis restarted empty.
MAX_KNOWN_ROUTES = 10_000


class _Consumer(Protocol):
    @property
    def closed(self) -> bool: ...


class RedisListQueue:
    """Pop messages from one Redis list: the pull side of a queue connection."""

    def __init__(self, client: SharedClient, key: str, maxsize: int = 0) -> None:
        self.client = client
        self.key = key
        self.maxsize = maxsize
        self.closed = False

    # -- the ConnectionQueue protocol ----------------------------------------

    def get(
        self, block: bool = True, timeout: float | None = None, consumer: _Consumer | None = None
    ) -> Message:
        """Pop the oldest message, waiting up to timeout when block; raise Empty otherwise.

        Raise BackendClosed when the backend was closed (nothing reconnects).
        """
        item = self._pop(block, timeout, consumer)
        if item is None:
            raise Empty
        return _as_message(item)

    def get_nowait(self) -> Message:
        return self.get(block=False)

    def qsize(self) -> int:
        """Return the length of the list; 0 when Redis cannot say."""
        return self._count(lambda client: client.llen(self.key))

    @property
    def dropped(self) -> int:
        """Messages dropped (oldest first) because the list held maxsize."""
        return self._count(lambda client: client.get(self.key + ":dropped"))

    def _count(self, read: Any) -> int:
        try:
            return int(read(self.client.get()) or 0)
        except BackendClosed:
            return 0
        except RedisError as exc:
            self.client.note_error(exc)
            return 0

    # -- popping ------------------------------------------------------------

    def _pop(self, block: bool, timeout: float | None, consumer: _Consumer | None) -> Any:
        """Return one item (raw bytes from Redis, or a local Message), or None in time."""
        if timeout is not None and timeout < 0:
            raise ValueError(f"'timeout' must be a non-negative number, not {timeout!r}.")
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            item = self._pop_local()
            if item is not None or self.closed:
                return item  # a closed store leaves the list to the consumers to come
            wait = 0.0
            if block and not (consumer is not None and consumer.closed):
                wait = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - monotonic())
            try:
                if wait > 2 * REDIS_LATENESS:
                    popped = self.client.get().blpop([self.key], timeout=wait - REDIS_LATENESS)
                    if popped is not None:
                        return popped[1]
                    continue
                item = self.client.get().lpop(self.key)
            except RedisError as exc:
                self.client.note_error(exc)
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
        self, queues: SharedQueues, suffix: str, maxsize: int, identifier: Identifier
    ) -> None:
        super().__init__(queues.client, queues.keys.base + suffix, maxsize)
        self.queues = queues
        self.suffix = suffix
        self.identifier = identifier
        self.member = queues.member(self)  # this process's entry in P:routes
        self._local: deque[Message] = deque(maxlen=maxsize or None)
        self._local_dropped = 0

    # -- the Store interface ---------------------------------------------------

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
                self.client.get().lpush(self.key, item)
            elif item is not None:
                self._local.appendleft(item)

    def qsize(self) -> int:
        return len(self._local) + (0 if self.closed else super().qsize())

    def full(self) -> bool:
        return bool(self.maxsize) and self.qsize() >= self.maxsize

    @property
    def dropped(self) -> int:
        return self._local_dropped + super().dropped

    def close(self) -> None:
        """The last consumer in this process closed: stop renewing the route.

        The route lapses after SHARED_LEASE, so what is sent meanwhile waits
        for a consumer to come back; delete() withdraws it at once.
        """
        self.closed = True
        self.queues.forget(self)

    def delete(self) -> bool:
        """Withdraw this process's route now; drop the list if no other process consumes it.

        Return whether the list was dropped. Raise RedisUnavailable when Redis
        cannot be reached (the route then lapses after SHARED_LEASE).
        """
        self.closed = True
        return self.queues.delete(self)

    def wake_all(self) -> None:
        """Nothing to do: a waiting consumer sees its queue closed within one wait slice."""

    def _pop_local(self) -> Any:
        try:
            return self._local.popleft()
        except IndexError:
            return None


class SharedQueues:
    """This process's shared queues in Redis: their stores and their routes' lease.

    Thread safety: ``_lock`` guards ``_stores`` and ``_known``. ``_renewing``
    is held across a renewal (on the sender thread) and a delete, so that a
    renewal never puts back a route deleted while it ran.
    """

    def __init__(self, client: SharedClient, keys: Keys, options: RedisOptions) -> None:
        self.client = client
        self.keys = keys
        self.ttl_ms = milliseconds(options.shared_ttl)
        self.lease = options.shared_lease
        #: Seconds between renewals: several per lease.
        self.heartbeat = min(HEARTBEAT, self.lease / 3)
        self._reset()
        self._stores: weakref.WeakSet[RedisSharedStore] = weakref.WeakSet()
        # Every process's shared-queue routes as last seen (member -> lease end): put
        # back by whichever process reaches a restarted, empty Redis first.
        self._known: dict[bytes, float] = {}

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._renewing = threading.Lock()

    def store(self, identifier: Identifier, maxsize: int) -> RedisSharedStore:
        """Return a new store for identifier, its route registered for a lease."""
        store = RedisSharedStore(self, self.keys.shared_suffix(identifier), maxsize, identifier)
        with self._lock:
            self._stores.add(store)
        # Register now, so that anything sent anywhere from now on reaches it; when
        # Redis is unreachable the sender registers it on reconnecting.
        try:
            pipe = self.client.get().pipeline(transaction=False)
            pipe.zadd(self.keys.routes, {store.member: time.time() + self.lease})
            pipe.pexpire(store.key, self.ttl_ms)
            pipe.execute()
        except RedisError as exc:
            self.client.note_error(exc)
        return store

    def member(self, store: RedisSharedStore) -> str:
        """Return store's entry in P:routes for this process (its token as the owner)."""
        return route_member(
            store.suffix, store.identifier, store.maxsize, self.ttl_ms, self.client.token
        )

    def forget(self, store: RedisSharedStore) -> None:
        """Stop renewing store's route: it lapses after the lease."""
        with self._lock:
            self._stores.discard(store)

    def delete(self, store: RedisSharedStore) -> bool:
        """Remove store's route now; drop its list when no other route leads there."""
        client = self.client
        with self._renewing:
            self.forget(store)
            dropped = client.answer(
                client.script(DELETE_SHARED),
                keys=[self.keys.routes, store.key],
                args=[store.member, time.time(), store.suffix],
            )
        return bool(dropped)

    def renew(self, client: redis.Redis) -> None:
        """Extend this process's routes by a lease, drop lapsed ones, note everyone's."""
        routes = self.keys.routes
        with self._renewing:
            now = time.time()
            with self._lock:
                live = {s.member: s.key for s in self._stores if not s.closed}
            pipe = client.pipeline(transaction=False)
            for member, key in live.items():
                pipe.zadd(routes, {member: now + self.lease})
                pipe.pexpire(key, self.ttl_ms)
            pipe.zremrangebyscore(routes, "-inf", now)
            pipe.zrangebyscore(routes, now, "+inf", start=0, num=MAX_KNOWN_ROUTES, withscores=True)
            found = pipe.execute()[-1]
        known = {m: end for m, end in found if m.startswith(b"q:s:")}
        with self._lock:
            self._known = known

    def restore(self, client: redis.Redis) -> None:
        """Put back the routes known before Redis restarted; their owners renew them or not."""
        now = time.time()
        with self._lock:
            known = {m: end for m, end in self._known.items() if end > now}
        if known:
            client.zadd(self.keys.routes, known, nx=True)

    def after_fork(self) -> None:
        """In a forked child (with its new token): the stores get routes of their own."""
        self._reset()
        # A parent's thread may have been iterating the set when it forked.
        self._stores = weakref.WeakSet(list(self._stores))
        for store in self._stores:
            store.member = self.member(store)
