"""The Redis backend: one message bus for every process sharing a Redis URL and prefix.

    BERRYMQ = {
        "BACKEND": "berrymq_django.backends.redis.RedisBackend",
        "BACKEND_OPTIONS": {"URL": "redis://127.0.0.1:6379/0", "PREFIX": "berrymq"},
    }

How a message travels: twitter() delivers in its own process, then hands the
message to publish(), which only appends it to an in-process buffer (no I/O
on the caller's thread). A sender thread encodes what accumulated into
batches and runs the publishing script once per batch, pipelined: the
script appends the batch to one Redis stream and pushes each message into
the lists of the shared queues and queue connections it matches (see
redis_wire). A receiver thread per process reads the stream in batches,
skips the batches its own process wrote (compared by a per-process token)
and hands every other message to ``dispatcher.deliver``.

A stream rather than pub/sub: a process that loses Redis for a moment
resumes reading where it stopped, so messages flushed on reconnect are not
lost to a receiver that reconnects a little later.

Faults: when Redis is unreachable, twitter() carries on in-process; messages
for other processes wait in the buffer (BUFFER_SIZE, oldest dropped first,
drops counted and logged) and are flushed on reconnect; status() reports the
backend disconnected until it is back.

Processes: the threads start when the backend is bound to a dispatcher (at
Django setup, never at import). A fork waits for them to finish the Redis
command they are in; the child gets a new token, fresh threads and
connections, and leaves the parent's client untouched (redis-py would wait
for locks the parent's threads held at the fork).

Also here: redis_options (the options), redis_wire (keys, wire format, Lua),
redis_queues (shared queues and queue connections), redis_state (JSON-RPC
connections and uids).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import logging
import os
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from time import monotonic
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ..core.message import Message
from ..core.store import QueueStore
from .base import BaseBackend
from .redis_options import DEFAULT_OPTIONS, read_options, redacted
from .redis_queues import RedisSharedStore
from .redis_state import RedisConnectionState, RedisUnavailable
from .redis_wire import PUBLISH, Keys, decode_batch, encode, milliseconds, route_member

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..core.identifier import Identifier

__all__ = ["DEFAULT_OPTIONS", "RedisBackend", "RedisUnavailable"]

logger = logging.getLogger("berrymq")

_BATCHES_PER_FLUSH = 16  # pipelined per round trip
_HEARTBEAT = 5.0  # seconds between refreshes of this process's shared-queue routes
_LEASE = 30.0  # a shared-queue route outlives a vanished process by this much
_READ_BLOCK_MS = 1_000
_READ_COUNT = 100  # stream entries per read
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0  # seconds between reconnection attempts
_CLOSE_WAIT = 3.0  # seconds close() gives the threads to flush and stop
# After Redis restarted empty, hold what was buffered this long before sending it,
# so that every live process has reconnected and registered its shared queues again.
_RESTART_GRACE = _BACKOFF_MAX + 0.5
_MAX_KNOWN_ROUTES = 10_000
_MAX_SENDERS = 10_000  # processes whose last batch number a receiver remembers
_FORK_WAIT = 2.0  # seconds a fork waits for each thread to finish its Redis command
_PUBLISH_SHA = hashlib.sha1(PUBLISH.encode()).hexdigest()
_MAX_REPORTED_IDENTIFIERS = 1_000

# Every backend not closed yet: flushed at exit, restarted in a forked child.
_live: weakref.WeakSet[RedisBackend] = weakref.WeakSet()


@dataclasses.dataclass(slots=True)
class _Batch:
    """Messages encoded for one run of the publishing script."""

    seq: int
    count: int
    ids: bytes  # one identifier per line
    payloads: bytes  # one JSON message per line


class RedisBackend(RedisConnectionState, BaseBackend):
    """Carry non-local messages, shared queues and JSON-RPC state through Redis.

    Options (BERRYMQ["BACKEND_OPTIONS"]) are listed in DEFAULT_OPTIONS; an
    unknown one is a TypeError, a bad value ImproperlyConfigured, each naming
    the option. Nothing connects until the backend is bound to a dispatcher.
    """

    forwards = True

    def __init__(self, **options: Any) -> None:
        checked = read_options(options)
        super().__init__(**options)
        self.url = checked.url
        self.prefix = checked.prefix
        self.buffer_size = checked.buffer_size
        self.batch_size = checked.batch_size
        self.stream_maxlen = checked.stream_maxlen
        self.socket_timeout = checked.socket_timeout
        self.connect_timeout = checked.connect_timeout
        self.shared_ttl = checked.shared_ttl
        self.keys = Keys(self.prefix)
        self._closed = False
        self._started = False
        # Shared stores created here, held weakly: a collected Queue's route goes away.
        self._stores: weakref.WeakSet[RedisSharedStore] = weakref.WeakSet()
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        """Set up this process's state: at creation, and in a child after fork."""
        # Tells this process's batches apart in the stream; new in a forked child.
        self.token = secrets.token_hex(8)
        self._own = self.token.encode()
        # Guards starting threads, the client, _stores and _registered.
        self._lock = threading.Lock()
        # Held by the sender and the receiver while they run Redis commands (and so
        # may hold redis-py's or the import system's locks); a fork waits for them.
        self._send_busy = threading.Lock()
        self._receive_busy = threading.Lock()
        self._held_for_fork: list[threading.Lock] = []
        # publish() appends, the sender pops: deque operations need no lock.
        self._buffer: deque[Message] = deque(maxlen=self.buffer_size)
        # Sender thread only: encoded batches not confirmed by Redis yet.
        self._pending: list[_Batch] = []
        self._unsent = 0  # messages taken from the buffer, not confirmed yet
        self._seq = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = False
        self._threads: list[threading.Thread] = []
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._registered: set[str] = set()  # our entries in P:routes
        # Every process's shared-queue routes as last seen (member -> lease end): put
        # back by whichever process reaches a restarted, empty Redis first.
        self._known_routes: dict[bytes, float] = {}
        self._send_run_id: str | None = None
        self._hold_until = 0.0
        self._sub_client_id: int | None = None
        self._position: bytes | None = None  # last stream entry read
        # Receiver thread only: the last batch number read from each sender.
        self._last_seqs: OrderedDict[bytes | None, int] = OrderedDict()
        self._run_id: str | None = None  # tells a restarted Redis
        self._send_ok = False
        self._sub_ok = False
        self.published = 0
        self.received = 0
        self.dropped = 0
        self._dropped_logged = 0
        self.unencodable = 0
        self._unencodable_ids: set[str] = set()
        self.last_error: str | None = None
        self._down_logged = False

    def __repr__(self) -> str:
        return f"<RedisBackend {redacted(self.url)} prefix={self.prefix!r} token={self.token}>"

    # -- lifecycle ------------------------------------------------------------

    def bind(self, dispatcher: Dispatcher) -> None:
        """Attach to dispatcher and start receiving (connecting happens in the threads)."""
        super().bind(dispatcher)
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            for target, name in ((self._send_loop, "sender"), (self._receive_loop, "receiver")):
                thread = threading.Thread(target=target, name=f"berrymq-redis-{name}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def ready(self, timeout: float = 5.0) -> bool:
        """Start if needed and wait until connected and reading; return whether it is."""
        if self._closed:
            return False
        self._start()
        deadline = monotonic() + timeout
        while not self.connected and monotonic() < deadline:
            time.sleep(0.01)
        return self.connected

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every published message reached Redis; return whether all did."""
        deadline = monotonic() + timeout
        self._wake.set()
        while self._buffer or self._unsent:
            if monotonic() >= deadline or not self._started:
                return False
            time.sleep(0.002)
        return True

    def close(self) -> None:
        """Flush what is buffered (briefly), stop the threads, drop this process's routes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads, self._threads = self._threads, []
        self._stop.set()  # the sender flushes what it holds, then both threads end
        self._wake.set()
        deadline = monotonic() + _CLOSE_WAIT
        for thread in threads:
            while thread.is_alive() and monotonic() < deadline:
                if thread.name.endswith("receiver"):
                    self._unblock_receiver()
                thread.join(0.05)
        lost = len(self._buffer) + self._unsent
        if lost:
            logger.warning(
                "berryMQ Redis backend closed with %d message(s) for other processes unsent "
                "(Redis at %s: %s).",
                lost,
                redacted(self.url),
                self.last_error,
            )
        with self._lock:
            members, self._registered = list(self._registered), set()
        if members and self._send_ok:
            try:
                self.client().zrem(self.keys.routes, *members)
            except RedisError as exc:
                self.note_error(exc)
        self._disconnect()
        self._started = False  # publish() now ignores what it is handed
        _live.discard(self)

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.connection_pool.disconnect()
            client.close()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's threads, sockets and buffer; start again."""
        restart = self._started and not self._closed
        if self._client is not None:
            _abandon(self._client)
        self._started = False
        self._reset()
        # A parent's thread may have been iterating the set when it forked.
        self._stores = weakref.WeakSet(list(self._stores))
        for store in self._stores:
            store.member = self._store_member(store.identifier, store.maxsize)  # our new token
        if restart:
            self._start()

    # -- the client -------------------------------------------------------------

    def client(self) -> redis.Redis:
        """Return this process's client (a pool shared by the sender and callers' threads)."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = self._make_client(self.socket_timeout)
        return client

    def _make_client(self, socket_timeout: float, **extra: Any) -> redis.Redis:
        # No redis-py retries: reconnecting is ours to pace, and a retry would
        # stretch a caller's timeout.
        return redis.Redis.from_url(
            self.url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=self.connect_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=f"berrymq-{self.token}",
            **extra,
        )

    def _script(self, source: str) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client().register_script(source)
        return script

    @property
    def connected(self) -> bool:
        """Whether both threads reach Redis right now."""
        return self._started and self._send_ok and self._sub_ok

    def note_error(self, exc: BaseException) -> None:
        """Record a Redis failure seen by any thread; a lost connection is checked again."""
        self.last_error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            self._send_ok = False  # reported disconnected until the sender reconnects
            self._wake.set()

    def status(self) -> dict[str, Any]:
        """Return the backend's health: connected, buffered, published, dropped, last_error, ..."""
        return {
            "backend": "redis",
            "url": redacted(self.url),
            "prefix": self.prefix,
            "connected": self.connected,
            "buffered": len(self._buffer) + self._unsent,
            "published": self.published,
            "received": self.received,
            "dropped": self.dropped,
            "unencodable": self.unencodable,
            "last_error": self.last_error,
        }

    # -- messages ---------------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Queue message for the other processes; never blocks, never raises for Redis."""
        if not self._started:
            if self._closed:
                return
            self._start()
        buffer = self._buffer
        if len(buffer) >= self.buffer_size:
            self.dropped += 1  # the deque drops its oldest on append
        buffer.append(message)
        if self._idle:
            self._wake.set()

    def _send_loop(self) -> None:
        backoff = _BACKOFF_FIRST
        next_beat = 0.0
        while True:
            stopping = self._stop.is_set()
            hold = self._hold_until - monotonic()
            if hold > 0 and not stopping:
                self._stop.wait(hold)
                continue
            try:
                with self._send_busy:
                    if not self._send_ok:
                        self._connect_sender()
                        backoff = _BACKOFF_FIRST
                        next_beat = 0.0
                    if self._hold_until <= monotonic():
                        self._flush_once()
                    if monotonic() >= next_beat:
                        self._heartbeat()
                        next_beat = monotonic() + _HEARTBEAT
            except RedisError as exc:
                self._lost(exc)
                if stopping:
                    return
                self._report_drops()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            except Exception:
                logger.exception("berryMQ Redis sender failed; carrying on")
                if stopping:
                    return
                self._stop.wait(_BACKOFF_MAX)
                continue
            self._report_drops()
            if self._buffer or self._pending:
                continue
            if stopping:
                return
            # Sleep until publish() sees _idle and wakes us, or the next heartbeat.
            self._wake.clear()
            self._idle = True
            if not self._buffer and not self._stop.is_set():
                self._wake.wait(max(0.0, next_beat - monotonic()))
            self._idle = False

    def _connect_sender(self) -> None:
        client = self.client()
        run_id = client.info("server").get("run_id")
        client.script_load(PUBLISH)
        if self._send_run_id is not None and run_id != self._send_run_id:
            # Redis restarted, maybe empty: put back the routes of every process we
            # knew of (their owners renew or let them lapse) and give the others time
            # to reconnect before flushing, so buffered messages reach their queues.
            now = time.time()
            known = {m: end for m, end in self._known_routes.items() if end > now}
            if known:
                client.zadd(self.keys.routes, known, nx=True)
            if self._buffer or self._pending:
                self._hold_until = monotonic() + _RESTART_GRACE
        self._send_run_id = run_id
        self._heartbeat()
        self._send_ok = True
        if self._down_logged:
            self._down_logged = False
            logger.warning("berryMQ Redis backend reached Redis at %s again.", redacted(self.url))

    def _flush_once(self) -> None:
        """Send the pending batches, or the next ones from the buffer, in one round trip."""
        if not self._pending:
            self._pending = self._take_batches()
            if not self._pending:
                return
        keys = self.keys
        head = (keys.stream, keys.routes, keys.seq(self.token))
        pipe = self.client().pipeline(transaction=False)
        now = time.time()
        for batch in self._pending:
            pipe.evalsha(
                _PUBLISH_SHA,
                3,
                *head,
                self.token,
                batch.seq,
                now,
                self.stream_maxlen,
                keys.base,
                batch.ids,
                batch.payloads,
            )
        results = pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):
            # Redis forgot its scripts (restart, SCRIPT FLUSH): batches that did run
            # are skipped by their seq on the retry.
            self.client().script_load(PUBLISH)
            return
        for batch, result in zip(self._pending, results, strict=True):
            count = batch.count
            if isinstance(result, Exception):
                self.dropped += count
                logger.error(
                    "berryMQ Redis backend: Redis refused %d message(s): %s", count, result
                )
            else:
                self.published += count
            self._unsent -= count
        self._pending = []

    def _take_batches(self) -> list[_Batch]:
        popleft = self._buffer.popleft
        size = self.batch_size
        batches = []
        for _ in range(_BATCHES_PER_FLUSH):
            ids: list[bytes] = []
            payloads: list[bytes] = []
            try:
                while len(payloads) < size:
                    message = popleft()
                    try:
                        payloads.append(encode(message))
                    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
                        self._unencodable(message, exc)
                        continue
                    ids.append(message.id.encode())
            except IndexError:
                pass
            if payloads:
                self._seq += 1
                self._unsent += len(payloads)
                batches.append(_Batch(self._seq, len(ids), b"\n".join(ids), b"\n".join(payloads)))
            if len(payloads) < size:
                break
        return batches

    def _unencodable(self, message: Message, exc: Exception) -> None:
        self.unencodable += 1
        if message.id in self._unencodable_ids:
            return
        if len(self._unencodable_ids) < _MAX_REPORTED_IDENTIFIERS:
            self._unencodable_ids.add(message.id)
        logger.warning(
            "berryMQ message %r reached this process's followers only: its arguments "
            "cannot cross to other processes as JSON (%s). Further ones are counted "
            "in status()['unencodable'].",
            message.id,
            exc,
        )

    def _heartbeat(self) -> None:
        """Renew this process's shared-queue routes and drop expired entries."""
        now = time.time()
        with self._lock:
            live = {s.member: s.key for s in self._stores if not s.closed}
            gone = self._registered - live.keys()
        pipe = self.client().pipeline(transaction=False)
        ttl_ms = milliseconds(self.shared_ttl)
        for member, key in live.items():
            pipe.zadd(self.keys.routes, {member: now + _LEASE})
            pipe.pexpire(key, ttl_ms)
        if gone:
            pipe.zrem(self.keys.routes, *gone)
        pipe.zremrangebyscore(self.keys.routes, "-inf", now)
        pipe.zremrangebyscore(self.keys.conns, "-inf", now)
        pipe.zrangebyscore(
            self.keys.routes, now, "+inf", start=0, num=_MAX_KNOWN_ROUTES, withscores=True
        )
        routes = pipe.execute()[-1]
        self._known_routes = {m: end for m, end in routes if m.startswith(b"q:s:")}
        with self._lock:
            self._registered -= gone
            self._registered |= live.keys()

    def _lost(self, exc: BaseException) -> None:
        self.note_error(exc)
        if not self._down_logged:
            self._down_logged = True
            logger.warning(
                "berryMQ Redis backend cannot reach Redis at %s (%s); messages for other "
                "processes are buffered (up to %d) until it is back.",
                redacted(self.url),
                self.last_error,
                self.buffer_size,
            )

    def _report_drops(self) -> None:
        dropped = self.dropped
        if dropped > self._dropped_logged:
            logger.warning(
                "berryMQ Redis backend dropped %d message(s) for other processes (%d in all): "
                "the buffer of %d was full while Redis at %s was unreachable (%s).",
                dropped - self._dropped_logged,
                dropped,
                self.buffer_size,
                redacted(self.url),
                self.last_error,
            )
            self._dropped_logged = dropped

    # -- receiving ----------------------------------------------------------------

    def _receive_loop(self) -> None:
        backoff = _BACKOFF_FIRST
        client: redis.Redis | None = None
        stream = self.keys.stream
        while not self._stop.is_set():
            try:
                block: int | None = _READ_BLOCK_MS
                if client is None:
                    with self._receive_busy:
                        client = self._make_client(
                            self.socket_timeout + _READ_BLOCK_MS / 1000,
                            single_connection_client=True,
                        )
                        self._find_position(client)
                    self._sub_ok = True
                    backoff = _BACKOFF_FIRST
                    block = None  # a first read that returns at once
                assert self._position is not None
                # Waiting for entries holds no lock a forked child could need; the
                # rest (connecting, the first read, delivering) happens while busy.
                if block is None:
                    with self._receive_busy:
                        response = client.xread({stream: self._position}, count=_READ_COUNT)
                else:
                    response = client.xread(
                        {stream: self._position}, count=_READ_COUNT, block=block
                    )
                if response:
                    with self._receive_busy:
                        for _, entries in response:
                            self._receive(entries)
            except RedisError as exc:
                self._sub_ok = False
                self._lost(exc)
                _close_quietly(client)
                client = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
            except Exception:
                logger.exception("berryMQ Redis receiver failed; carrying on")
                self._stop.wait(_BACKOFF_MAX)
        self._sub_ok = False
        _close_quietly(client)

    def _find_position(self, client: redis.Redis) -> None:
        """Decide where to read from after (re)connecting."""
        self._sub_client_id = int(client.client_id())
        run_id = client.info("server").get("run_id")
        stream = self.keys.stream
        if self._position is None:
            # Start at the end: this process receives what is sent from now on.
            last = client.xrevrange(stream, count=1)
            self._position = last[0][0] if last else b"0-0"
        elif run_id != self._run_id:
            # Redis restarted. What its stream holds came after we lost it, unless
            # it was persisted and still holds our place.
            first, last = client.xrange(stream, count=1), client.xrevrange(stream, count=1)
            here = _entry_id(self._position)
            if not (first and last and _entry_id(first[0][0]) <= here <= _entry_id(last[0][0])):
                self._position = b"0-0"
        self._run_id = run_id

    def _receive(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        dispatcher = self.dispatcher
        own = self._own
        last_seqs = self._last_seqs
        for entry_id, fields in entries:
            self._position = entry_id
            sender = fields.get(b"p")
            if sender == own or dispatcher is None:
                continue  # delivered here already, when it was twittered
            # A batch written to a Redis that then crashed, and sent again to its
            # successor, may be read twice: each sender's batch numbers only grow.
            seq = int(fields.get(b"s") or 0)
            if seq and seq <= last_seqs.get(sender, 0):
                continue
            last_seqs[sender] = seq
            last_seqs.move_to_end(sender)
            if len(last_seqs) > _MAX_SENDERS:
                last_seqs.popitem(last=False)
            try:
                batch = decode_batch(fields[b"m"])
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("berryMQ skipped a malformed stream entry %r: %s", entry_id, exc)
                continue
            for data in batch:
                try:
                    message = Message.from_dict(data)
                except (TypeError, ValueError) as exc:
                    logger.warning("berryMQ skipped a malformed message from Redis: %s", exc)
                    continue
                self.received += 1
                try:
                    dispatcher.deliver(message)
                except Exception:
                    # RAISE_ERRORS let a follower's exception through: log it here,
                    # the receiver must live on.
                    logger.exception("berryMQ follower raised on message %r", message.id)

    def _unblock_receiver(self) -> None:
        client_id = self._sub_client_id
        if client_id is None or not self._sub_ok:
            return
        with contextlib.suppress(RedisError):
            self.client().client_unblock(client_id)

    # -- shared queues ------------------------------------------------------------

    def shared_store(self, identifier: Identifier, maxsize: int) -> Any:
        """Return a Redis-list store for identifier; local identifiers stay in memory."""
        if identifier.is_local:
            return QueueStore(maxsize)  # its messages never leave the process
        key = self.keys.base + self.keys.shared_suffix(identifier)
        member = self._store_member(identifier, maxsize)
        store = RedisSharedStore(self, key, maxsize, identifier, member)
        with self._lock:
            self._stores.add(store)
            self._registered.add(store.member)
        self._start()
        # Register now, so that anything sent anywhere from now on reaches it; when
        # Redis is unreachable the sender registers it on reconnecting.
        try:
            pipe = self.client().pipeline(transaction=False)
            pipe.zadd(self.keys.routes, {store.member: time.time() + _LEASE})
            pipe.pexpire(key, milliseconds(self.shared_ttl))
            pipe.execute()
        except RedisError as exc:
            self.note_error(exc)
        return store

    def _store_member(self, identifier: Identifier, maxsize: int) -> str:
        suffix = self.keys.shared_suffix(identifier)
        return route_member(suffix, identifier, maxsize, milliseconds(self.shared_ttl), self.token)

    def forget_store(self, store: RedisSharedStore) -> None:
        """Stop routing messages to store's list for this process (its last Queue closed)."""
        with self._lock:
            self._stores.discard(store)
        try:
            self.client().zrem(self.keys.routes, store.member)
        except RedisError as exc:
            self.note_error(exc)  # the heartbeat removes it once Redis is back
            return
        with self._lock:
            self._registered.discard(store.member)


# -- helpers ---------------------------------------------------------------------


def _entry_id(raw: bytes) -> tuple[int, int]:
    ms, _, seq = raw.partition(b"-")
    return int(ms), int(seq or 0)


# Clients a forked child inherited from its parent. They are never used, closed or
# even collected there: redis-py would take pool locks (in close(), in __del__) that
# one of the parent's threads may have held at the fork, and wait for ever.
_inherited: list[redis.Redis] = []


def _abandon(client: redis.Redis) -> None:
    """Keep a parent's client out of reach in a forked child, closing only our copies
    of its sockets (the parent's connections stay up)."""
    _inherited.append(client)
    pool = client.connection_pool
    with contextlib.suppress(Exception):  # redis-py internals; at worst the fds stay open
        idle = getattr(pool, "_available_connections", [])
        busy: set[Any] = getattr(pool, "_in_use_connections", set())
        for connection in [*idle, *busy]:
            sock = getattr(connection, "_sock", None)
            if sock is not None:
                sock.close()


def _close_quietly(client: redis.Redis | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):  # closing a broken connection
            client.close()


def _before_fork() -> None:
    """Let each backend's threads finish the Redis command they are in, then fork."""
    for backend in list(_live):
        backend._held_for_fork = [
            lock
            for lock in (backend._send_busy, backend._receive_busy)
            if lock.acquire(timeout=_FORK_WAIT)
        ]


def _after_fork_in_parent() -> None:
    for backend in list(_live):
        held, backend._held_for_fork = backend._held_for_fork, []
        for lock in held:
            lock.release()


def _after_fork_in_child() -> None:
    for backend in list(_live):
        backend._after_fork()  # new locks: the ones held for the fork are dropped


def _close_all() -> None:
    """At exit: flush what each backend still holds for other processes."""
    for backend in list(_live):
        backend.close()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
atexit.register(_close_all)
