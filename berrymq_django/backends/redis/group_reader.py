"""The group reader: one thread per process running its share of grouped messages.

It reads the streams of the groups this process has members of
(``groups.GroupRoutes``) with XREADGROUP, as one consumer named by the
process token, so that Redis hands each entry to one process, and calls
``inbox.receive_group(group, message)`` for each. The ledger
(``group_ledger``) records the outcome: acknowledged after the members
returned (one script per read batch), tried again after a backoff when
one raised (the retry is an XCLAIM to itself, which Redis counts as a
delivery), kept as a dead letter after GROUP_MAX_ATTEMPTS deliveries. An
entry for which no member is left here (``receive_group`` returns 0) is
given back at once, for another member to claim (this process gives it
back again whenever it claims it, until a group changes here).

Claims: every quarter of GROUP_CLAIM_SECONDS it takes (XAUTOCLAIM) the
entries any member has held that long without acknowledging them: a
process that died, or one far too slow. Before running a claimed entry it
looks it up in the group's uid window, where the first member's late
acknowledgement leaves the uid. A crash between a follower's return and the
acknowledgement still repeats the message once, in the member that claims
it. While its followers work through a slow batch, the reader tells the
others that it still holds the rest (``keep``), every half claim time.

Stopping (the transport sets ``stop_by``): it reads nothing more, runs what
it read until ``stop_by``, acknowledges, makes what it will not run
claimable at once, and leaves each stream's consumer group if it holds
nothing there. Every TIDY_EVERY seconds it removes the consumers that hold
nothing and have not read for two leases (processes that ended).

Fork safety: ``busy`` is held while the thread runs commands other than the
blocking read (and while it runs followers), so a fork can wait for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from time import monotonic
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from ...core.exceptions import FollowerFailed
from .client import BackendClosed
from .group_ledger import GroupLedger
from .receiver import BACKOFF_FIRST, BACKOFF_MAX
from .wire import CONSUMER_GROUP, decode, milliseconds

if TYPE_CHECKING:
    import redis

    from ...core.contracts import Inbox
    from ...core.message import Message
    from .client import SharedClient
    from .groups import GroupRoutes, GroupStream
    from .wire import Keys

__all__ = ["GroupReader"]

logger = logging.getLogger("berrymq")

READ_COUNT = 100  # entries per stream per read
READ_BLOCK_MS = 1_000
TIDY_EVERY = 5.0  # seconds between removals of idle consumers (and status counts)
MAX_CLAIMS_PER_PASS = 10  # XAUTOCLAIM calls per stream per claim pass
MAX_DECLINED = 10_000  # entries remembered as having no member here

Entry = tuple[bytes, Any]  # (entry id, fields) as redis-py gives them


class GroupReader:
    """Take this process's share of grouped messages, run them, record what became of them.

    ``run()`` is the thread's body; everything else is for that thread only,
    except ``ok``, ``reading``, ``status()``, ``poke()`` and ``unblock()``.
    """

    def __init__(self, client: SharedClient, keys: Keys, routes: GroupRoutes) -> None:
        self.client = client
        self.keys = keys
        self.routes = routes
        self.ledger = GroupLedger(client, keys)
        self.inbox: Inbox | None = None
        #: Told of each Redis failure (the transport logs that Redis is down).
        self.on_error = client.note_error
        self._reset()

    def _reset(self) -> None:
        #: Whether the thread reads every stream it should (or has none to read).
        self.ok = False
        self.busy = threading.Lock()
        self.wake = threading.Event()
        #: Monotonic time after which a stopping thread runs nothing more.
        self.stop_by = float("inf")
        self._stop = threading.Event()
        self._client_id: int | None = None
        self._reading: frozenset[str] = frozenset()
        self._next_claim = self._next_tidy = 0.0
        # Entries that found no member here, given back to the others (cleared on a join).
        self._declined: set[bytes] = set()
        self.ledger.reset()
        #: Per group, as of the last tidy: dead letters and dropped messages in Redis.
        self.counts: dict[str, dict[str, int]] = {}

    def after_fork(self) -> None:
        """In a forked child: forget the parent's entries, retries and connection."""
        self._reset()

    @property
    def reading(self) -> bool:
        """Whether every joined stream is being read."""
        return self.ok and {s.key for s in self.routes.streams()} <= self._reading

    # -- the thread ----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Read, run and record until stop is set, then leave tidily (the thread's body)."""
        self._stop = stop
        backoff = BACKOFF_FIRST
        client: redis.Redis | None = None
        while not stop.is_set():
            streams = self.routes.streams()
            try:
                if client is None:
                    with self.busy:
                        client = self._connect(streams)
                    backoff = BACKOFF_FIRST
                with self.busy:
                    self._due(client, streams)
                if streams:
                    self._read(client, streams)
                else:
                    self._idle(client)
            except BackendClosed:
                break
            except ResponseError as exc:
                if client is not None and ("NOGROUP" in str(exc) or "UNBLOCKED" in str(exc)):
                    with self.busy:  # Redis restarted empty, or the stream was deleted
                        self.routes.create_consumer_groups(client, streams)
                    continue
                logger.error("berryMQ group reader: Redis refused a command: %s", exc)
                stop.wait(BACKOFF_MAX)
            except RedisError as exc:
                self.ok = False
                if not stop.is_set():
                    self.on_error(exc)
                _close_quietly(client)
                client = None
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:
                logger.exception("berryMQ group reader failed; carrying on")
                stop.wait(BACKOFF_MAX)
        self._finish(client)
        self.ok = False
        _close_quietly(client)

    def _connect(self, streams: list[GroupStream]) -> redis.Redis:
        client = self.client.make(
            self.client.options.socket_timeout + READ_BLOCK_MS / 1000,
            single_connection_client=True,
        )
        try:
            self._client_id = int(client.client_id())
            # Entries as Redis gives them, [id, [b"m", json]]: no dict made per entry.
            client.set_response_callback("XREADGROUP", _as_read)
            self.ledger.use(client)
            self.routes.create_consumer_groups(client, streams)
        except BaseException:
            _close_quietly(client)
            raise
        self.ok = True
        return client

    def _idle(self, client: redis.Redis) -> None:
        """No group here any more: acknowledge what is left, wait for a join."""
        if self.ledger.waiting:
            with self.busy:
                self.ledger.acknowledge(client)
        self.ok, self._reading = True, frozenset()
        self.wake.wait(READ_BLOCK_MS / 1000)
        self.wake.clear()

    def _read(self, client: redis.Redis, streams: list[GroupStream]) -> None:
        """Acknowledge what the last read ran and read on, in one round trip."""
        self._reading = frozenset(s.key for s in streams)
        self.ok = True
        pipe = client.pipeline(transaction=False)
        with self.busy:
            self.ledger.queue(pipe)
        pipe.xreadgroup(
            CONSUMER_GROUP,
            self.client.token,
            dict.fromkeys(self._reading, ">"),
            count=READ_COUNT,
            block=self._block_ms(),
        )
        asked = monotonic()  # no later than Redis delivered what it answers
        response: Any = self.ledger.sent(pipe)[-1]
        if not response:
            return
        by_key = {s.key: s for s in streams}
        with self.busy:
            # {stream: entries} in RESP3, [[stream, entries], ...] in RESP2
            for key, entries in response.items() if isinstance(response, dict) else response:
                stream = by_key.get(key.decode() if isinstance(key, bytes) else key)
                if stream is not None:  # else left meanwhile: another member claims them
                    self._handle(client, stream, entries, asked)

    def _block_ms(self) -> int:
        wait = min(READ_BLOCK_MS / 1000, self._next_claim - monotonic())
        if self.ledger.retries:
            wait = min(wait, self.ledger.retries[0].due - monotonic())
        return max(1, int(wait * 1000))  # 0 would block for ever

    def poke(self) -> None:
        """Read the current streams now (one was joined or left)."""
        self._declined = set()
        self.wake.set()
        self.unblock()

    def unblock(self) -> None:
        """Cut the thread's blocking read short."""
        client_id = self._client_id
        if client_id is None or not self.ok or self.client.closed:
            return
        with contextlib.suppress(RedisError, BackendClosed):
            self.client.get().client_unblock(client_id)

    # -- running entries -----------------------------------------------------------

    def _handle(
        self,
        client: redis.Redis,
        stream: GroupStream,
        entries: list[Entry],
        read_at: float,
        claimed: bool = False,
    ) -> None:
        """Run the members of stream's group on entries read at read_at; record each outcome."""
        ledger = self.ledger
        messages = self._decode(stream, entries, read_at)
        if claimed:
            messages = ledger.not_done(client, stream, messages)
        inbox, group, stop = self.inbox, stream.group, self._stop
        keep_every = ledger.policy.claim_seconds / 2
        kept_at = read_at
        done: list[tuple[bytes, str]] = []
        declined: list[bytes] = []
        left: list[bytes] = []  # not run: stopping
        for index, (entry_id, message) in enumerate(messages):
            now = monotonic()
            if inbox is None or (stop.is_set() and now >= self.stop_by):
                left = [e for e, _ in messages[index:]]
                break
            if now - kept_at > keep_every:
                ledger.keep(client, stream, [e for e, _ in messages[index:]])
                kept_at = now
            try:
                ran = inbox.receive_group(group, message)
            except FollowerFailed as exc:
                ledger.failed(client, stream, entry_id, message, exc.error)
                continue
            except Exception as exc:  # not a follower's error: report it, and retry
                logger.exception("berryMQ group %r could not run %r", group, message.id)
                ledger.failed(client, stream, entry_id, message, exc)
                continue
            if ran:
                done.append((entry_id, message.uid))
            else:  # no member here any more (it just left): for another member to claim
                declined.append(entry_id)
                if len(self._declined) < MAX_DECLINED:
                    self._declined.add(entry_id)
        ledger.done(stream, done, read_at)
        ledger.handled += len(done)
        ledger.declined += len(declined)
        ledger.give_back(client, stream, declined + left)

    def _decode(
        self, stream: GroupStream, entries: list[Entry], read_at: float
    ) -> list[tuple[bytes, Message]]:
        decoded = []
        for entry_id, fields in entries:
            if not fields:
                continue  # trimmed away while pending
            try:
                # A read gives the fields as read ([b"m", json]), a claim as a dict.
                payload = fields[1] if isinstance(fields, list) else fields[b"m"]
                decoded.append((entry_id, decode(payload)))
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                logger.warning(
                    "berryMQ group %r skipped a malformed entry %r: %s", stream.group, entry_id, exc
                )
                self.ledger.done(stream, [(entry_id, "")], read_at)
        return decoded

    # -- what falls due: retries, claims, tidying ----------------------------------

    def _due(self, client: redis.Redis, streams: list[GroupStream]) -> None:
        """Run the retries due, claim stuck entries, tidy; the next read acknowledges."""
        ledger = self.ledger
        now = monotonic()
        current = set(streams)
        for retry in ledger.due(now):
            if retry.stream not in current:
                continue  # left: another member claims it
            entries: Any = client.xclaim(
                retry.stream.key,
                CONSUMER_GROUP,
                self.client.token,
                min_idle_time=int(retry.backoff * 500),
                message_ids=[retry.entry_id],
            )
            if entries:  # else another member took it meanwhile
                ledger.retried += 1
                self._handle(client, retry.stream, entries, now)
        if streams and now >= self._next_claim:
            claim = ledger.policy.claim_seconds
            self._next_claim = now + min(max(claim / 4, 0.25), TIDY_EVERY)
            for stream in streams:
                self._claim(client, stream)
                ledger.trim(client, stream)
        if streams and now >= self._next_tidy:
            self._next_tidy = now + TIDY_EVERY
            idle = 2 * max(self.routes.lease, ledger.policy.claim_seconds)
            self.counts = ledger.tidy(client, streams, idle)

    def _claim(self, client: redis.Redis, stream: GroupStream) -> None:
        """Take the entries held longer than GROUP_CLAIM_SECONDS by any member."""
        retrying = {r.entry_id for r in self.ledger.retries}
        start: Any = b"0-0"
        for _ in range(MAX_CLAIMS_PER_PASS):
            asked = monotonic()
            start, entries, *_ = client.xautoclaim(
                stream.key,
                CONSUMER_GROUP,
                self.client.token,
                min_idle_time=milliseconds(self.ledger.policy.claim_seconds),
                start_id=start,
                count=READ_COUNT,
            )
            entries = [e for e in entries if e[0] not in retrying]
            again = [e[0] for e in entries if e[0] in self._declined]
            if again:  # found no member here before: straight back to the others
                self.ledger.give_back(client, stream, again)
                entries = [e for e in entries if e[0] not in self._declined]
            if entries:
                self.ledger.claimed += len(entries)
                self._handle(client, stream, entries, asked, claimed=True)
            if start in (b"0-0", "0-0"):
                return

    def _finish(self, client: redis.Redis | None) -> None:
        """Stopping: acknowledge, give back what is left, leave the consumer groups."""
        ledger = self.ledger
        if client is None:
            left = ledger.waiting + len(ledger.retries)
            if left:
                logger.warning(
                    "berryMQ group reader stopped without Redis: %d grouped message(s) stay "
                    "with this process's consumer until another member claims them.",
                    left,
                )
            return
        try:
            with self.busy:
                ledger.leave(client, self.routes.streams())
        except (RedisError, KeyError) as exc:
            logger.warning("berryMQ group reader could not leave its streams tidily: %s", exc)

    # -- health --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Return the counters, and per group its patterns here and its counts in Redis."""
        counts = self.counts
        return {
            **self.ledger.counters(),
            "groups": {
                group: {"patterns": patterns, **counts.get(group, {})}
                for group, patterns in self.routes.groups().items()
            },
        }


def _as_read(response: Any, **options: Any) -> Any:
    return response


def _close_quietly(client: redis.Redis | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):  # closing a broken connection
            client.close()
