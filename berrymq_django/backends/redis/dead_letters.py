"""Dead letters in Redis: the grouped messages that failed their last attempt.

The group reader keeps each one in its group's stream ``P:dead:<group>``
with the last error (``group_scripts.DEAD_LETTER``), bounded by
GROUP_DEAD_LETTERS per group, and notes the group in ``P:dead-groups``.
Here they are counted, listed, handed back to their group and deleted, for
``manage.py berrymq_dead`` and for anyone with the backend at hand. Every
call needs Redis: one that cannot be reached raises RedisUnavailable.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..base import DeadLetter
from .group_scripts import REDELIVER
from .wire import decode

if TYPE_CHECKING:
    from .client import SharedClient
    from .wire import Keys

__all__ = ["RedisDeadLetters"]

logger = logging.getLogger("berrymq")

RETRY_BATCH = 500  # dead letters handed back per script call


class RedisDeadLetters:
    """Implement ``backends.base.DeadLetters`` in Redis, for every process sharing it."""

    def __init__(self, client: SharedClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def groups(self, group: str | None = None) -> list[str]:
        """Return the groups that have dead letters (just group, when given), sorted."""
        if group is not None:
            return [group]
        members: Any = self.client.answer(self.client.get().smembers, self.keys.dead_groups)
        return sorted(m.decode() for m in members)

    def counts(self, group: str | None = None) -> dict[str, int]:
        """Return the number of dead letters of each group (or of group only)."""
        groups = self.groups(group)
        pipe = self.client.get().pipeline(transaction=False)
        for name in groups:
            pipe.xlen(self.keys.dead(name))
        return dict(zip(groups, map(int, self.client.answer(pipe.execute)), strict=True))

    def list(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Return up to limit dead letters per group, oldest first."""
        found: list[DeadLetter] = []
        for name in self.groups(group):
            entries: Any = self.client.answer(
                self.client.get().xrange, self.keys.dead(name), count=limit
            )
            found += [_dead_letter(name, entry_id, fields) for entry_id, fields in entries]
        return found

    def retry(self, group: str | None = None) -> dict[str, tuple[int, int]]:
        """Hand each group's dead letters back to it; return {group: (sent, left)}.

        A dead letter goes to the group's stream for the lowest pattern of a
        live member that matches it, with its attempts counted afresh; one that
        no member follows now stays a dead letter (counted in "left").
        """
        script = self.client.script(REDELIVER)
        report: dict[str, tuple[int, int]] = {}
        for name in self.groups(group):
            dead = self.keys.dead(name)
            sent = left = 0
            start = "-"
            while True:
                entries: Any = self.client.answer(
                    self.client.get().xrange, dead, min=start, count=RETRY_BATCH
                )
                if not entries:
                    break
                done, kept = self.client.answer(
                    script,
                    keys=[dead, self.keys.groups, self.keys.dead_groups],
                    args=[name, time.time(), self.keys.base, *(e for e, _ in entries)],
                )
                sent, left = sent + int(done), left + int(kept)
                start = "(" + entries[-1][0].decode()
            report[name] = (sent, left)
            if sent:
                logger.warning("berryMQ handed %d dead letter(s) back to group %r.", sent, name)
        return report

    def purge(self, group: str | None = None) -> dict[str, int]:
        """Delete the dead letters of every group (or of group); return {group: deleted}."""
        counts = self.counts(group)
        pipe = self.client.get().pipeline(transaction=True)
        for name in counts:
            pipe.delete(self.keys.dead(name))
            pipe.srem(self.keys.dead_groups, name)
        self.client.answer(pipe.execute)
        return counts


def _dead_letter(group: str, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    def text(name: bytes) -> str:
        return fields.get(name, b"").decode("utf-8", "replace")

    try:
        message = decode(fields[b"m"])
    except (KeyError, TypeError, ValueError):
        message = None
    return DeadLetter(
        group=group,
        id=entry_id.decode(),
        identifier=text(b"i"),
        message=message,
        error=text(b"e"),
        attempts=int(fields.get(b"n") or 0),
        failed_at=float(fields.get(b"t") or 0),
        worker=text(b"w"),
    )
