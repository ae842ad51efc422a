"""The outbox table's reads and writes: insert, claim, finish, and what the commands show.

Claiming keeps each destination's order with several relays (processes):

* **PostgreSQL**: a claim is one transaction that takes the destination's
  advisory lock (``pg_try_advisory_xact_lock``, so one relay per destination
  at a time; another relay skips it and works on the others) and its oldest
  pending rows ``FOR UPDATE SKIP LOCKED``. The rows are sent while the
  transaction is open and finished (deleted, or marked) in it: a relay that
  dies mid-send leaves them pending, and the next sends them again (the
  receiver drops the copy by its uid).
* **SQLite** (and any other database): one relay at a time, by an exclusive
  ``flock`` on a file beside the database (a lock in the process for an
  in-memory one), released when the process dies. Rows are read, sent, then
  finished in a short transaction, so writers never wait on a send.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from django.db import connections, transaction
from django.db.models import Count, Min

from .models import OutboxMessage
from .table import DEAD, DELIVERED, PENDING, TABLE, Row, insert

__all__ = [
    "Claimed",
    "Row",
    "claim",
    "dead_letters",
    "finish",
    "insert",
    "pending_destinations",
    "purge",
    "retry",
    "stats",
]

_local_locks: dict[str, threading.Lock] = {}


class Claimed(NamedTuple):
    """A pending row a relay holds: its id, the message's identifier and JSON."""

    id: int
    identifier: str
    payload: str


def pending_destinations(alias: str) -> list[str]:
    """Return the destinations that have pending rows."""
    query = OutboxMessage.objects.using(alias).filter(state=PENDING)
    return sorted(set(query.values_list("destination", flat=True).distinct()))


def _lock_key(destination: str) -> int:
    digest = hashlib.blake2b(destination.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def claim(alias: str, destination: str, limit: int) -> Iterator[list[Claimed] | None]:
    """Hold up to limit oldest pending rows of destination while the block sends them.

    Yields None when another relay works on destination now. Finish the rows
    with ``finish`` inside the block; an exception leaves them pending.
    """
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                # Finishing rows need not wait for the disk: a delete lost in a crash
                # only sends those messages again, which the receiver drops by uid.
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_key(destination)])
                if not cursor.fetchone()[0]:
                    yield None
                    return
            query = _pending(alias, destination, limit).select_for_update(skip_locked=True)
            yield [Claimed(*row) for row in query.values_list("id", "identifier", "payload")]
        return
    with _one_relay(alias) as held:
        if not held:
            yield None
            return
        query = _pending(alias, destination, limit)
        yield [Claimed(*row) for row in query.values_list("id", "identifier", "payload")]


def _pending(alias: str, destination: str, limit: int) -> Any:
    return (
        OutboxMessage.objects.using(alias)
        .filter(state=PENDING, destination=destination)
        .order_by("id")[:limit]
    )


@contextlib.contextmanager
def _one_relay(alias: str) -> Iterator[bool]:
    """Hold the database's one relay lock if free; yield whether it is held."""
    name = str(connections[alias].settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        lock = _local_locks.setdefault(alias, threading.Lock())
        if not lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
        return
    with open(f"{name}.berrymq-relay.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finish(
    alias: str,
    done: Sequence[int],
    dead: Sequence[tuple[int, str]] = (),
    *,
    retention: float = 0.0,
) -> None:
    """Mark rows done (deleted, or kept as delivered when retention > 0) and dead."""
    now = time.time()
    with transaction.atomic(using=alias):
        rows = OutboxMessage.objects.using(alias)
        if done and retention <= 0 and connections[alias].vendor == "postgresql":
            with connections[alias].cursor() as cursor:  # one array parameter, not one per id
                cursor.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", [list(done)])
        elif done:
            if retention > 0:
                rows.filter(id__in=done).update(state=DELIVERED, finished=now)
                rows.filter(state=DELIVERED, finished__lt=now - retention).delete()
            else:
                rows.filter(id__in=done).delete()
        for row_id, error in dead:
            rows.filter(id=row_id).update(state=DEAD, error=error[:2000], finished=now)


def stats(alias: str) -> dict[str, dict[str, Any]]:
    """Return per destination: pending, oldest_pending_seconds (None if none), dead."""
    now = time.time()
    figures: dict[str, dict[str, Any]] = {}
    rows = OutboxMessage.objects.using(alias).filter(state__in=(PENDING, DEAD))
    for item in rows.values("destination", "state").annotate(n=Count("id"), oldest=Min("created")):
        entry = figures.setdefault(
            item["destination"], {"pending": 0, "oldest_pending_seconds": None, "dead": 0}
        )
        if item["state"] == PENDING:
            entry["pending"] = item["n"]
            entry["oldest_pending_seconds"] = round(max(0.0, now - item["oldest"]), 3)
        else:
            entry["dead"] = item["n"]
    return dict(sorted(figures.items()))


def dead_letters(
    alias: str, destination: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Return up to limit dead letters, oldest first: id, destination, identifier, uid, error."""
    rows = OutboxMessage.objects.using(alias).filter(state=DEAD)
    if destination is not None:
        rows = rows.filter(destination=destination)
    fields = ("id", "destination", "identifier", "uid", "error", "created")
    return list(rows.order_by("id").values(*fields)[:limit])


def retry(alias: str, destination: str | None = None) -> int:
    """Make dead letters pending again (in their first place, by id); return how many."""
    rows = OutboxMessage.objects.using(alias).filter(state=DEAD)
    if destination is not None:
        rows = rows.filter(destination=destination)
    return int(rows.update(state=PENDING, error="", finished=None))


def purge(alias: str, destination: str | None = None, *, pending: bool = False) -> int:
    """Delete dead letters (and pending rows too, with pending); return how many."""
    states = (DEAD, DELIVERED, PENDING) if pending else (DEAD, DELIVERED)
    rows = OutboxMessage.objects.using(alias).filter(state__in=states)
    if destination is not None:
        rows = rows.filter(destination=destination)
    deleted, _ = rows.delete()
    return int(deleted)
