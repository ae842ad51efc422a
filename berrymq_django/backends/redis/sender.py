"""The sender: one thread per process writing buffered messages to the stream in batches.

publish() only appends to an in-process buffer (no I/O on the caller's
thread). The sender encodes what accumulated into batches of BATCH_SIZE and
runs the publishing script (wire.PUBLISH) once per batch, up to
BATCHES_PER_FLUSH pipelined per round trip. Each batch carries this
process's token and a number that only grows, so a batch retried after a
lost reply is applied once. Between batches it renews this process's
routes (shared-queue routes, shared.SharedQueues, and follower-group routes,
groups.GroupRoutes), at once when one of them asks (renew_soon()). The
publishing script also adds each grouped message to its group's stream,
trimmed to GROUP_MAXLEN: what that drops is counted and logged.

While Redis is unreachable the buffer holds up to BUFFER_SIZE messages,
dropping the oldest (counted and logged), and the sender reconnects with a
growing pause. After Redis restarted empty, it puts back the routes it knew
of and holds what it buffered RESTART_GRACE seconds, so that every live
process has registered its shared queues again before they are sent.

Fork safety: ``busy`` is held while the thread runs Redis commands, so a
fork can wait for it (see transport).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import NoScriptError, RedisError

from ...rpc.urls import shown_url
from ..base import GroupPolicy
from .client import BackendClosed
from .receiver import BACKOFF_FIRST, BACKOFF_MAX
from .wire import CONSUMER_GROUP, PUBLISH, encode

if TYPE_CHECKING:
    import redis

    from ...core.message import Message
    from .client import SharedClient
    from .options import RedisOptions
    from .wire import Keys

__all__ = ["Routes", "StreamSender"]

logger = logging.getLogger("berrymq")

BATCHES_PER_FLUSH = 16  # pipelined per round trip
RESTART_GRACE = BACKOFF_MAX + 0.5  # seconds; see the module docstring
MAX_REPORTED_IDENTIFIERS = 1_000
_PUBLISH_SHA = hashlib.sha1(PUBLISH.encode()).hexdigest()


class Routes(Protocol):
    """What the sender keeps alive between batches (shared queues, follower groups)."""

    heartbeat: float  # seconds between renewals

    def renew(self, client: redis.Redis) -> None: ...

    def restore(self, client: redis.Redis) -> None: ...


@dataclasses.dataclass(slots=True)
class _Batch:
    """Messages encoded for one run of the publishing script."""

    seq: int
    count: int
    ids: bytes  # one identifier per line
    payloads: bytes  # one JSON message per line


class StreamSender:
    """Buffer messages for the other processes and write them to the stream.

    Thread safety: publish() appends to ``buffer`` and the thread pops it
    (deque operations need no lock); ``_pending``, ``_seq`` and ``unsent``
    belong to the thread; counters are written by one thread each.
    """

    def __init__(
        self, client: SharedClient, keys: Keys, options: RedisOptions, routes: Sequence[Routes]
    ) -> None:
        self.client = client
        self.keys = keys
        self.options = options
        self.routes = tuple(routes)
        self.heartbeat = min(r.heartbeat for r in self.routes)
        #: Grouped messages a group's stream keeps (GROUP_MAXLEN); set by configure_groups.
        self.group_maxlen = GroupPolicy.maxlen
        self._buffer_size = options.buffer_size
        self._reset()

    def _reset(self) -> None:
        self.busy = threading.Lock()
        self.buffer: deque[Message] = deque(maxlen=self.options.buffer_size)
        self._pending: list[_Batch] = []  # encoded, not confirmed by Redis yet
        self.unsent = 0  # messages taken from the buffer, not confirmed yet
        self._seq = 0
        self.wake = threading.Event()
        self.idle = False  # the thread sleeps: publish() wakes it
        #: Monotonic time after which a stopping thread gives up flushing.
        self.stop_by = float("inf")
        #: Whether the thread reaches Redis (False from any thread that lost it).
        self.ok = False
        self._run_id: str | None = None  # tells a restarted Redis
        self._hold_until = 0.0
        self.published = 0
        self.dropped = 0
        self.dropped_after_stop = 0  # of dropped: sent after the transport stopped
        self._dropped_logged = 0
        self.unencodable = 0
        self._unencodable_ids: set[str] = set()
        self.group_dropped = 0
        self._renew_now = False

    def after_fork(self) -> None:
        """In a forked child: forget the parent's buffer, batches and counters."""
        self._reset()

    def publish(self, message: Message) -> None:
        """Append message to the buffer (dropping the oldest when full); wake the thread."""
        buffer = self.buffer
        if len(buffer) >= self._buffer_size:
            self.dropped += 1  # the deque drops its oldest on append
        buffer.append(message)
        if self.idle:
            self.wake.set()

    def renew_soon(self) -> None:
        """Renew the routes before the next batch (a route was added); wake the thread."""
        self._renew_now = True
        self.wake.set()

    def connection_lost(self) -> None:
        """Report disconnected until the thread reconnects; wake it to check."""
        self.ok = False
        self.wake.set()

    def run(self, stop: threading.Event) -> None:
        """Send until stop is set, then flush until ``stop_by`` (monotonic) passes, and end."""
        backoff = BACKOFF_FIRST
        next_beat = 0.0
        while True:
            stopping = stop.is_set()
            if stopping and monotonic() >= self.stop_by:
                return
            hold = self._hold_until - monotonic()
            if hold > 0:
                if stopping:
                    sleep(max(0.0, min(hold, self.stop_by - monotonic())))
                else:
                    stop.wait(hold)
                continue
            try:
                with self.busy:
                    if not self.ok:
                        self._connect()
                        backoff = BACKOFF_FIRST
                        next_beat = 0.0
                    if self._renew_now or monotonic() >= next_beat:
                        self._renew_now = False
                        self._renew(self.client.get())
                        next_beat = monotonic() + self.heartbeat
                    if self._hold_until <= monotonic():
                        self._flush_once()
            except BackendClosed:
                return
            except RedisError as exc:
                self.client.lost(exc)
                if stopping:
                    # Flushing for the exit: try again until stop_by, as Redis may be
                    # back in a moment (a restart); stop.wait would not wait now.
                    sleep(max(0.0, min(backoff, self.stop_by - monotonic())))
                else:
                    self._report_drops()
                    stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            except Exception:
                logger.exception("berryMQ Redis sender failed; carrying on")
                if stopping:
                    return
                stop.wait(BACKOFF_MAX)
                continue
            self._report_drops()
            if self.buffer or self._pending:
                continue
            if stopping:
                return
            # Sleep until publish() sees idle and wakes us, or the next heartbeat.
            self.wake.clear()
            self.idle = True
            if not self.buffer and not self._renew_now and not stop.is_set():
                self.wake.wait(max(0.0, next_beat - monotonic()))
            self.idle = False

    def _connect(self) -> None:
        client = self.client.get()
        run_id = client.info("server").get("run_id")
        client.script_load(PUBLISH)
        if self._run_id is not None and run_id != self._run_id:
            # Redis restarted, maybe empty: put back the routes of every process we
            # knew of and give the others time to reconnect before flushing, so
            # buffered messages reach their queues.
            for routes in self.routes:
                routes.restore(client)
            if self.buffer or self._pending:
                self._hold_until = monotonic() + RESTART_GRACE
        self._run_id = run_id
        self._renew(client)
        self.ok = True
        self.client.found()

    def _renew(self, client: redis.Redis) -> None:
        for routes in self.routes:
            routes.renew(client)

    def _flush_once(self) -> None:
        """Send the pending batches, or the next ones from the buffer, in one round trip."""
        if not self._pending:
            self._pending = self._take_batches()
            if not self._pending:
                return
        keys = self.keys
        token = self.client.token
        head = (keys.stream, keys.routes, keys.seq(token), keys.groups, keys.group_dropped)
        client = self.client.get()
        pipe = client.pipeline(transaction=False)
        now = time.time()
        for batch in self._pending:
            pipe.evalsha(
                _PUBLISH_SHA,
                len(head),
                *head,
                token,
                batch.seq,
                now,
                self.options.stream_maxlen,
                keys.base,
                batch.ids,
                batch.payloads,
                self.group_maxlen,
                CONSUMER_GROUP,
            )
        results = pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):
            # Redis forgot its scripts (restart, SCRIPT FLUSH): batches that did run
            # are skipped by their seq on the retry.
            client.script_load(PUBLISH)
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
                self._group_drops(result)
            self.unsent -= count
        self._pending = []

    def _group_drops(self, result: list[Any]) -> None:
        """Count and log the grouped messages a full group stream dropped (oldest first)."""
        for group, dropped in zip(result[1::2], result[2::2], strict=True):
            self.group_dropped += int(dropped)
            logger.warning(
                "berryMQ dropped the %d oldest grouped message(s) of group %r: its stream "
                "held more than GROUP_MAXLEN (%d) messages nobody had taken.",
                int(dropped),
                group.decode() if isinstance(group, bytes) else group,
                self.group_maxlen,
            )

    def _take_batches(self) -> list[_Batch]:
        popleft = self.buffer.popleft
        size = self.options.batch_size
        batches = []
        for _ in range(BATCHES_PER_FLUSH):
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
                self.unsent += len(payloads)
                batches.append(_Batch(self._seq, len(ids), b"\n".join(ids), b"\n".join(payloads)))
            if len(payloads) < size:
                break
        return batches

    def _report_drops(self) -> None:
        dropped = self.dropped
        if dropped > self._dropped_logged:
            logger.warning(
                "berryMQ Redis backend dropped %d message(s) for other processes (%d in all): "
                "the buffer of %d was full while Redis at %s was unreachable (%s).",
                dropped - self._dropped_logged,
                dropped,
                self.options.buffer_size,
                shown_url(self.client.url),
                self.client.last_error,
            )
            self._dropped_logged = dropped

    def _unencodable(self, message: Message, exc: Exception) -> None:
        self.unencodable += 1
        if message.id in self._unencodable_ids:
            return
        if len(self._unencodable_ids) < MAX_REPORTED_IDENTIFIERS:
            self._unencodable_ids.add(message.id)
        logger.warning(
            "berryMQ message %r reached this process's followers only: its arguments "
            "cannot cross to other processes as JSON (%s). Further ones are counted "
            "in status()['unencodable'].",
            message.id,
            exc,
        )
