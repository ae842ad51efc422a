"""The receiver: one thread per process reading the stream, handing others' messages in.

It reads the stream ``P:bus`` in batches on a connection of its own (a
blocking read would hold a pooled one), skips the batches its own process
wrote (told apart by the process token) and hands every other message to
the inbox (the dispatcher's ``receive``: local followers only). A message
whose identifier nothing here follows (``inbox.wants``: a grouped one, say)
is not even decoded.

A stream rather than pub/sub: a process that loses Redis for a moment
resumes reading where it stopped, so messages flushed on reconnect are not
lost to a receiver that reconnects a little later. After Redis restarted,
it reads from the start of the new stream unless the old place is still in
it (a persisted Redis). A batch written twice (a sender's retry to a Redis
that crashed after running it) is read once: each sender's batch numbers
only grow.

Lag: for each message it delivers, the receiver keeps ``lag``, the seconds
between the message's timestamp (the sender's clock) and the read that
brought it in (this process's clock): one subtraction and one assignment per
message, no lock. Once per read it folds the last lag into a largest-lag
figure kept over minute-long windows (``lag_max()``). Clocks that disagree
show up in both figures, so they mean something only with clocks kept in
step (NTP).

Fork safety: ``busy`` is held while the thread runs a Redis command other
than the blocking wait (connecting, the first read, delivering), so a fork
can wait for it (see transport).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from .client import BackendClosed
from .wire import decode_batch, from_fields

if TYPE_CHECKING:
    import redis

    from ...core.contracts import Inbox
    from .client import SharedClient
    from .wire import Keys

__all__ = ["StreamReceiver"]

logger = logging.getLogger("berrymq")

READ_BLOCK_MS = 1_000
READ_COUNT = 100  # stream entries per read
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 1.0  # seconds between reconnection attempts
MAX_SENDERS = 10_000  # processes whose last batch number is remembered
LAG_WINDOW = 60.0  # seconds over which the largest lag is kept


class StreamReceiver:
    """Read the stream from where this process stopped; hand others' messages to the inbox.

    ``run()`` is the thread's body; everything else here is for that thread
    only, except ``ok``, ``received``, ``lag``, ``lag_max()`` and ``unblock()``.
    """

    def __init__(self, client: SharedClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.inbox: Inbox | None = None
        #: Told of each Redis failure (the transport logs that Redis is down).
        self.on_error: Callable[[BaseException], None] = client.note_error
        self._reset()

    def _reset(self) -> None:
        #: Whether the thread is connected and reading.
        self.ok = False
        self.received = 0
        self.missed = 0  # batches of other processes trimmed away before this one read them
        #: Seconds from the last delivered message's timestamp to its read; None before one.
        self.lag: float | None = None
        # (window start, largest lag in it, largest in the window before), replaced whole
        # so status() reads a consistent triple without a lock.
        self._lag_windows: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.busy = threading.Lock()
        self._client_id: int | None = None
        self._position: bytes | None = None  # the last stream entry read
        self._run_id: str | None = None  # tells a restarted Redis
        # The last batch number read from each sender.
        self._last_seqs: OrderedDict[bytes | None, int] = OrderedDict()

    def after_fork(self) -> None:
        """In a forked child: start over, reading what is sent from the child's start on."""
        self._reset()

    def run(self, stop: threading.Event) -> None:
        """Read and deliver until stop is set (the thread's body)."""
        backoff = BACKOFF_FIRST
        client: redis.Redis | None = None
        stream = self.keys.stream
        own = self.client.token.encode()
        while not stop.is_set():
            try:
                block: int | None = READ_BLOCK_MS
                if client is None:
                    with self.busy:
                        client = self.client.make(
                            self.client.options.socket_timeout + READ_BLOCK_MS / 1000,
                            single_connection_client=True,
                        )
                        self._find_position(client)
                    self.ok = True
                    backoff = BACKOFF_FIRST
                    block = None  # a first read that returns at once
                assert self._position is not None
                # Waiting for entries holds no lock a forked child could need; the
                # rest (connecting, the first read, delivering) happens while busy.
                response: Any  # [(stream, [(entry id, fields), ...])] or None
                if block is None:
                    with self.busy:
                        response = client.xread({stream: self._position}, count=READ_COUNT)
                else:
                    response = client.xread({stream: self._position}, count=READ_COUNT, block=block)
                if response:
                    with self.busy:
                        now, lag = time.time(), self.lag
                        for _, entries in response:
                            self._receive(entries, own, now)
                        if self.lag is not lag:  # a message was delivered: a new float
                            self._note_lag(now)
            except BackendClosed:
                break
            except RedisError as exc:
                self.ok = False
                if not stop.is_set():
                    self.on_error(exc)
                _close_quietly(client)
                client = None
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:
                logger.exception("berryMQ Redis receiver failed; carrying on")
                stop.wait(BACKOFF_MAX)
        self.ok = False
        _close_quietly(client)

    def unblock(self) -> None:
        """Cut the thread's blocking read short (it is stopping)."""
        client_id = self._client_id
        if client_id is None or not self.ok:
            return
        with contextlib.suppress(RedisError, BackendClosed):
            self.client.get().client_unblock(client_id)

    def _find_position(self, client: redis.Redis) -> None:
        """Decide where to read from after (re)connecting."""
        self._client_id = int(client.client_id())
        run_id = client.info("server").get("run_id")
        stream = self.keys.stream
        if self._position is None:
            # Start at the end: this process receives what is sent from now on.
            last: Any = client.xrevrange(stream, count=1)
            self._position = last[0][0] if last else b"0-0"
        elif run_id != self._run_id:
            # Redis restarted. What its stream holds came after we lost it, unless
            # it was persisted and still holds our place.
            first: Any = client.xrange(stream, count=1)
            last = client.xrevrange(stream, count=1)
            here = _entry_id(self._position)
            if not (first and last and _entry_id(first[0][0]) <= here <= _entry_id(last[0][0])):
                self._position = b"0-0"
        self._run_id = run_id

    def lag_max(self) -> float | None:
        """Return the largest ``lag`` seen at a read in the last one to two minutes (seconds).

        None when no message came in that long (or ever).
        """
        start, largest, before = self._lag_windows
        age = time.time() - start
        if age < LAG_WINDOW:
            return max(largest, before)
        return largest if age < 2 * LAG_WINDOW else None

    def _note_lag(self, now: float) -> None:
        """Fold the last message's lag into the current window (once per read)."""
        lag = self.lag
        assert lag is not None
        start, largest, before = self._lag_windows
        if now - start >= LAG_WINDOW:
            before = largest if now - start < 2 * LAG_WINDOW else 0.0
            start, largest = now, 0.0
        if lag > largest or start == now:
            self._lag_windows = (start, max(largest, lag), before)

    def _missed(self, sender: bytes | None, batches: int) -> None:
        """Count and log batches another process wrote that this one never read.

        The stream keeps about STREAM_MAXLEN batches: a process that falls
        further behind (or a Redis that lost its data) skips the rest.
        """
        self.missed += batches
        logger.warning(
            "berryMQ Redis receiver missed %d batch(es) from process %s (%d in all): the "
            "stream was trimmed past this process (STREAM_MAXLEN) or Redis lost them",
            batches,
            (sender or b"?").decode(errors="replace"),
            self.missed,
        )

    def _receive(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], own: bytes, now: float
    ) -> None:
        inbox = self.inbox
        last_seqs = self._last_seqs
        for entry_id, fields in entries:
            self._position = entry_id
            sender = fields.get(b"p")
            if sender == own or inbox is None:
                continue  # delivered here already, when it was twittered
            seq = int(fields.get(b"s") or 0)
            last = last_seqs.get(sender)
            if last is not None and seq:
                if seq <= last:
                    continue  # a batch written twice
                if seq > last + 1:
                    self._missed(sender, seq - last - 1)
            last_seqs[sender] = seq
            last_seqs.move_to_end(sender)
            if len(last_seqs) > MAX_SENDERS:
                last_seqs.popitem(last=False)
            try:
                wanted, unwanted = _wanted(fields, inbox)
                batch = decode_batch(wanted)
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("berryMQ skipped a malformed stream entry %r: %s", entry_id, exc)
                continue
            self.received += unwanted
            for data in batch:
                try:
                    message = from_fields(data)
                except (TypeError, ValueError) as exc:
                    logger.warning("berryMQ skipped a malformed message from Redis: %s", exc)
                    continue
                self.received += 1
                self.lag = now - message.timestamp
                try:
                    inbox.receive(message)
                except Exception:
                    # RAISE_ERRORS let a follower's exception through: log it here,
                    # the receiver must live on.
                    logger.exception("berryMQ follower raised on message %r", message.id)


def _wanted(fields: dict[bytes, bytes], inbox: Inbox) -> tuple[bytes, int]:
    """Return the JSON lines of an entry's messages that something here follows, and how
    many others it held."""
    lines = fields[b"m"]
    ids = fields.get(b"i")
    wants = getattr(inbox, "wants", None)
    if ids is None or wants is None:
        return lines, 0
    identifiers = ids.split(b"\n")
    distinct = set(identifiers)
    wanted = {i for i in distinct if wants(i.decode())}
    if len(wanted) == len(distinct):
        return lines, 0
    if not wanted:
        return b"", len(identifiers)
    payloads = lines.split(b"\n")
    if len(identifiers) != len(payloads):
        return lines, 0
    kept = [line for line, i in zip(payloads, identifiers, strict=True) if i in wanted]
    return b"\n".join(kept), len(payloads) - len(kept)


def _entry_id(raw: bytes) -> tuple[int, int]:
    ms, _, seq = raw.partition(b"-")
    return int(ms), int(seq or 0)


def _close_quietly(client: redis.Redis | None) -> None:
    if client is not None:
        with contextlib.suppress(Exception):  # closing a broken connection
            client.close()
