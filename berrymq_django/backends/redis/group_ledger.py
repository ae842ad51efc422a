"""The group ledger: what became of each grouped message this process took, told to Redis.

The group reader runs the followers; the ledger records the outcome, in
scripts that do each step atomically (``group_scripts``):

    handled             acknowledged with the next batch (XACK; for a batch held
                        over half a claim time, the uid goes into the group's
                        window when another member had claimed the entry
                        meanwhile: ACKNOWLEDGE), and trimmed from the stream
                        after every TRIM_EVERY acknowledgements (TRIM_ACKED)
    failed              counted by Redis across processes (XPENDING's delivery
                        count); below GROUP_MAX_ATTEMPTS tried again after a
                        backoff that doubles, else kept as a dead letter with
                        the last error and acknowledged (DEAD_LETTER)
    claimed elsewhere   checked against the uid window before it runs again
    not run (stopping)  made claimable by the other members at once (LEAVE_STREAM)

and, every few seconds (``tidy``), removes the consumers of processes that
ended holding nothing and reads the counts status() shows.

Everything here is used by the group reader's thread only, except the
counters, which status() reads.
"""

from __future__ import annotations

import heapq
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..base import GroupPolicy
from .group_scripts import (
    ACKNOWLEDGE,
    DEAD_LETTER,
    LEAVE_STREAM,
    PRUNE_CONSUMERS,
    TRIM_ACKED,
)
from .wire import CONSUMER_GROUP, encode, milliseconds, window_uid

if TYPE_CHECKING:
    import redis

    from ...core.message import Message
    from .client import SharedClient
    from .groups import GroupStream
    from .wire import Keys

__all__ = ["GroupLedger", "Retry"]

logger = logging.getLogger("berrymq")

RETRY_FIRST = 0.25  # seconds before the second attempt; doubled each time after
MAX_ERROR_TEXT = 8_000  # characters of the last error kept with a dead letter
MIN_WINDOW = 60.0  # seconds a uid stays in a window, at least
TRIM_EVERY = 5_000  # acknowledgements per stream between trims (and every claim pass)


@dataclass(order=True, slots=True)
class Retry:
    """Another attempt at an entry this process holds, due at a monotonic time."""

    due: float
    stream: GroupStream = field(compare=False)
    entry_id: bytes = field(compare=False)
    backoff: float = field(compare=False)


class GroupLedger:
    """Record handled, failed and given-back entries of group streams in Redis."""

    def __init__(self, client: SharedClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.policy = GroupPolicy()
        self.reset()

    def reset(self) -> None:
        """Forget every entry and counter (a new process, after a fork)."""
        self._scripts: dict[str, Any] = {}
        self._acks: dict[GroupStream, list[tuple[bytes, str]]] = {}
        # Per stream, when the oldest entry waiting for its acknowledgement was read.
        self._read_at: dict[GroupStream, float] = {}
        self._untrimmed: dict[GroupStream, int] = {}
        self._flight: dict[GroupStream, list[tuple[bytes, str]]] = {}
        self.retries: list[Retry] = []
        self.handled = self.failures = self.retried = self.dead_lettered = 0
        self.claimed = self.skipped = self.declined = 0

    def use(self, client: redis.Redis) -> None:
        """Run the scripts on client (the reader's connection)."""
        self._scripts = {
            source: client.register_script(source)
            for source in (ACKNOWLEDGE, DEAD_LETTER, LEAVE_STREAM, PRUNE_CONSUMERS, TRIM_ACKED)
        }

    # -- handled -------------------------------------------------------------------

    def done(self, stream: GroupStream, handled: list[tuple[bytes, str]], read_at: float) -> None:
        """Note entries handled, (entry id, uid), read at the monotonic time read_at, to
        acknowledge with the next batch."""
        if not handled:
            return
        acks = self._acks.setdefault(stream, [])
        if not acks or read_at < self._read_at[stream]:
            self._read_at[stream] = read_at
        acks += handled

    @property
    def waiting(self) -> int:
        """Entries handled and not acknowledged yet."""
        return sum(map(len, self._acks.values())) + sum(map(len, self._flight.values()))

    def acknowledge(self, client: redis.Redis) -> None:
        """Acknowledge what was handled now; what fails stays to acknowledge."""
        pipe = client.pipeline(transaction=False)
        if self.queue(pipe):
            self.sent(pipe)

    def queue(self, pipe: redis.client.Pipeline) -> bool:
        """Put the acknowledgements of what was handled on pipe; return whether any.

        Run the pipe with ``sent(pipe)``, which keeps them on failure.
        """
        window_ms = milliseconds(max(MIN_WINDOW, 4 * self.policy.claim_seconds))
        fresh_since = time.monotonic() - self.policy.claim_seconds / 2
        for stream, acks in self._acks.items():
            if not acks:
                continue
            self._flight.setdefault(stream, []).extend(acks)
            untrimmed = self._untrimmed[stream] = self._untrimmed.get(stream, 0) + len(acks)
            if self._read_at[stream] > fresh_since:
                pipe.xack(stream.key, CONSUMER_GROUP, *(entry_id for entry_id, _ in acks))
            else:
                args: list[Any] = [
                    CONSUMER_GROUP,
                    self.client.token,
                    self.keys.group_window(stream.group),
                    window_ms,
                ]
                for entry_id, uid in acks:
                    args += (entry_id, window_uid(uid))
                self._scripts[ACKNOWLEDGE](keys=[stream.key], args=args, client=pipe)
            acks.clear()
            if untrimmed >= TRIM_EVERY:
                self.trim(pipe, stream)
        return bool(self._flight)

    def sent(self, pipe: redis.client.Pipeline) -> list[Any]:
        """Run pipe; forget the acknowledgements it carried, or keep them if it fails."""
        try:
            answers: list[Any] = pipe.execute()
        except BaseException:
            for stream, acks in self._flight.items():
                self._acks.setdefault(stream, [])[:0] = acks
            self._flight = {}
            raise
        self._flight = {}
        return answers

    def trim(self, client: redis.Redis | redis.client.Pipeline, stream: GroupStream) -> None:
        """Trim from stream what its members acknowledged."""
        self._untrimmed[stream] = 0
        self._scripts[TRIM_ACKED](keys=[stream.key], args=[CONSUMER_GROUP], client=client)

    def not_done(
        self, client: redis.Redis, stream: GroupStream, messages: list[tuple[bytes, Message]]
    ) -> list[tuple[bytes, Message]]:
        """Return the claimed entries to run: not those their first member acknowledged."""
        if not messages:
            return messages
        prefix = self.keys.group_window(stream.group)
        pipe = client.pipeline(transaction=False)
        for _, message in messages:
            pipe.exists(prefix + window_uid(message.uid))
        todo = []
        seen = []
        for (entry_id, message), done in zip(messages, pipe.execute(), strict=True):
            if done:
                seen.append((entry_id, message.uid))
            else:
                todo.append((entry_id, message))
        self.done(stream, seen, time.monotonic())
        self.skipped += len(seen)
        return todo

    # -- failed --------------------------------------------------------------------

    def failed(
        self,
        client: redis.Redis,
        stream: GroupStream,
        entry_id: bytes,
        message: Message,
        error: BaseException,
    ) -> None:
        """Schedule another attempt, or keep the message as a dead letter after the last."""
        self.failures += 1
        found: Any = client.xpending_range(
            stream.key, CONSUMER_GROUP, min=entry_id, max=entry_id, count=1
        )
        if not found or found[0]["consumer"].decode() != self.client.token:
            return  # acknowledged, or claimed by another member meanwhile
        attempts = int(found[0]["times_delivered"])
        limit = self.policy.max_attempts
        if attempts < limit:
            backoff = min(RETRY_FIRST * 2 ** (attempts - 1), self.policy.claim_seconds / 2)
            retry = Retry(time.monotonic() + backoff, stream, entry_id, backoff)
            heapq.heappush(self.retries, retry)
            logger.warning(
                "berryMQ group %r: %r failed (attempt %d of %d); trying again in %.2f s.",
                stream.group,
                message.id,
                attempts,
                limit,
                backoff,
            )
            return
        self._dead_letter(client, stream, entry_id, message, error, attempts)

    def _dead_letter(
        self,
        client: redis.Redis,
        stream: GroupStream,
        entry_id: bytes,
        message: Message,
        error: BaseException,
        attempts: int,
    ) -> None:
        text = "".join(traceback.format_exception(error))[-MAX_ERROR_TEXT:]
        self._scripts[DEAD_LETTER](
            keys=[
                stream.key,
                self.keys.dead(stream.group),
                self.keys.dead_groups,
                self.keys.dead_dropped,
            ],
            args=[
                CONSUMER_GROUP,
                entry_id,
                stream.group,
                encode(message),
                message.id,
                text,
                attempts,
                time.time(),
                self.client.token,
                self.policy.dead_letters,
            ],
            client=client,
        )
        self.dead_lettered += 1
        logger.error(
            "berryMQ group %r gave up on %r (uid %s) after %d attempts and kept it as a dead "
            "letter (manage.py berrymq_dead): %s: %s",
            stream.group,
            message.id,
            message.uid,
            attempts,
            type(error).__name__,
            error,
        )

    def due(self, now: float) -> list[Retry]:
        """Return (and forget) the retries due by the monotonic time now."""
        due = []
        while self.retries and self.retries[0].due <= now:
            due.append(heapq.heappop(self.retries))
        return due

    # -- holding and giving back -----------------------------------------------------

    def keep(self, client: redis.Redis, stream: GroupStream, ids: list[bytes]) -> None:
        """Reset the idle time of entries still to run, so that no member claims them."""
        claimed: list[Any] = list(ids)
        client.xclaim(stream.key, CONSUMER_GROUP, self.client.token, 0, claimed, justid=True)

    def give_back(self, client: redis.Redis, stream: GroupStream, ids: list[bytes]) -> None:
        """Make entries this process will not run claimable by the other members at once."""
        if ids:
            self._scripts[LEAVE_STREAM](
                keys=[stream.key],
                args=[
                    CONSUMER_GROUP,
                    self.client.token,
                    milliseconds(self.policy.claim_seconds),
                    *ids,
                ],
                client=client,
            )

    def leave(self, client: redis.Redis, streams: list[GroupStream]) -> None:
        """Stopping: acknowledge, give back the retries, leave each stream holding nothing."""
        self.acknowledge(client)
        by_stream: dict[GroupStream, list[bytes]] = {}
        for retry in self.retries:
            by_stream.setdefault(retry.stream, []).append(retry.entry_id)
        self.retries = []
        for stream, ids in by_stream.items():
            self.give_back(client, stream, ids)
        for stream in streams:
            self._scripts[LEAVE_STREAM](
                keys=[stream.key], args=[CONSUMER_GROUP, self.client.token, 0], client=client
            )

    def tidy(
        self, client: redis.Redis, streams: list[GroupStream], idle: float
    ) -> dict[str, dict[str, int]]:
        """Remove the consumers idle for idle seconds that hold nothing (ended processes);
        return each group's dead letters and dropped messages, for status()."""
        groups = sorted({s.group for s in streams})
        pipe = client.pipeline(transaction=False)
        for stream in streams:
            self._scripts[PRUNE_CONSUMERS](
                keys=[stream.key],
                args=[CONSUMER_GROUP, milliseconds(idle), self.client.token],
                client=pipe,
            )
        for group in groups:
            pipe.xlen(self.keys.dead(group))
            pipe.hget(self.keys.group_dropped, group)
        answers = pipe.execute()[len(streams) :]
        return {
            group: {"dead_letters": int(dead or 0), "dropped": int(dropped or 0)}
            for group, dead, dropped in zip(groups, answers[::2], answers[1::2], strict=True)
        }

    def counters(self) -> dict[str, int]:
        """Return what this process did with grouped messages since it started."""
        return {
            "group_handled": self.handled,
            "group_failed": self.failures,
            "group_retried": self.retried,
            "group_dead_lettered": self.dead_lettered,
            "group_claimed": self.claimed,
            "group_skipped": self.skipped,
            "group_declined": self.declined,
        }
