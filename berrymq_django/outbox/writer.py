"""Write each non-local message to the outbox, in the caller's transaction.

``OutboxWriter`` is the dispatcher's forwarder while the outbox is on: for
each message leaving the process it makes one row per destination ("backend"
when the backend carries messages to other processes, "peer:<name>" for each
peer link that wants it) and writes them:

* inside ``berrymq_django.outbox.atomic()``: staged, and written in one
  multi-row INSERT when that block exits, still inside the transaction;
  the rows staged within a savepoint that rolled back are left out
  (``batched()`` does the same without opening a transaction);
* inside Django's own ``transaction.atomic()``: one INSERT at once, in the
  transaction (it commits or rolls back with the business rows);
* outside a transaction: one INSERT at once (autocommit).

A message whose arguments JSON cannot carry raises TypeError naming it,
before anything is written; a database error propagates as any write's would.

Why a block of our own: Django runs nothing just before a commit
(``on_commit`` runs after it), so a batch can be written in the transaction
only by the code that ends the block.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

import orjson
from django.db import connections, transaction

from ..core.exceptions import UnencodableMessage
from ..rpc.peers import Peers, wire_form
from .table import Row, insert

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..core.message import Message

__all__ = [
    "BACKEND_DESTINATION",
    "PEER_PREFIX",
    "OutboxWriter",
    "atomic",
    "batched",
    "current_writer",
]

#: The destination name of the backend (the site's other processes), and the prefix of peers'.
BACKEND_DESTINATION = "backend"
PEER_PREFIX = "peer:"

logger = logging.getLogger("berrymq")

_writer: OutboxWriter | None = None


def current_writer() -> OutboxWriter | None:
    """Return the installed writer (the outbox is on), else None."""
    return _writer


class _Staged:
    """Rows staged in one outermost ``atomic()`` or ``batched()`` block.

    Each entry has the on_commit marker it was staged with (None when no
    transaction was open: kept whatever happens). ``loose``: a ``batched()``
    block, which stages outside transactions too.
    """

    __slots__ = ("entries", "loose")

    def __init__(self, loose: bool = False) -> None:
        self.entries: list[tuple[Callable[[], None] | None, list[Row]]] = []
        self.loose = loose


class _Batches(threading.local):
    by_alias: dict[str, _Staged]

    def __init__(self) -> None:
        self.by_alias = {}


_batches = _Batches()


def _nothing() -> None:
    pass


class OutboxWriter:
    """The dispatcher's forwarder: rows for every destination, written transactionally.

    ``wake`` is called after rows are committed (or written in autocommit),
    so a relay in this process sends them without waiting for its poll.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        alias: str,
        wake: Callable[[], None] = _nothing,
    ) -> None:
        self.dispatcher = dispatcher
        self.alias = alias
        self.wake = wake

    def rows(self, message: Message) -> list[Row]:
        """Return the rows message makes (none when it goes nowhere); TypeError if not JSON."""
        dispatcher = self.dispatcher
        if not dispatcher.leaves(message.id):
            return []
        wanted: list[tuple[str, tuple[str, ...]]] = []
        if dispatcher.backend.forwards:
            wanted.append((BACKEND_DESTINATION, ()))
        for relay in dispatcher.relays:
            if isinstance(relay, Peers):
                links, seen = relay.route(message)
                wanted.extend((PEER_PREFIX + link.config.name, seen) for link in links)
        if not wanted:
            return []
        created = message.timestamp
        try:
            payloads: dict[tuple[str, ...], str] = {}
            rows = []
            for destination, seen in wanted:
                payload = payloads.get(seen)
                if payload is None:
                    payload = payloads[seen] = orjson.dumps(wire_form(message, seen)).decode()
                rows.append(Row(destination, message.id, message.uid, payload, created))
        except TypeError as exc:
            raise UnencodableMessage(
                f"berryMQ message {message.id!r} cannot be written to the outbox: its "
                f"arguments are not JSON ({exc}). Send JSON types (str, int, float, bool, "
                "None, lists, dicts with string keys)."
            ) from None
        return rows

    def forward(self, message: Message) -> None:
        """Write message's rows: staged in an ``atomic()`` block, else at once.

        Relays of the application's own (not peer links) get the message
        afterwards, as without the outbox: they are not durable.
        """
        rows = self.rows(message)
        if rows:
            self.write(rows, _nothing)
        self.relay_others(message)

    def relay_others(self, message: Message) -> None:
        """Hand message to every relay that is not the peer links (logged if one fails)."""
        for relay in self.dispatcher.relays:
            if not isinstance(relay, Peers):
                try:
                    relay.relay(message)
                except Exception:
                    logger.exception("berryMQ relay %r failed on message %r", relay, message.id)

    def write(self, rows: list[Row], marker: Callable[[], None]) -> None:
        """Stage rows in the current ``atomic()`` block, or insert them now.

        marker, when staged, is registered with ``transaction.on_commit`` by
        the caller or here: rows whose marker a savepoint rollback discarded
        are not written.
        """
        alias = self.alias
        staged = _batches.by_alias.get(alias)
        connection = connections[alias]
        if staged is not None and (staged.loose or connection.in_atomic_block):
            kept: Callable[[], None] | None = None
            if connection.in_atomic_block:
                kept = marker
                if kept is _nothing:
                    kept = _Marker()
                    transaction.on_commit(kept, using=alias)
            staged.entries.append((kept, rows))
            return
        insert(alias, rows)
        if connection.in_atomic_block:
            transaction.on_commit(self.wake, using=alias)
        else:
            self.wake()

    def flush(self, staged: _Staged) -> None:
        """Write what survives of staged in one statement (inside the transaction)."""
        if not staged.entries:
            return
        alias = self.alias
        connection = connections[alias]
        alive = {id(item[1]) for item in connection.run_on_commit}
        rows = [
            row
            for marker, rows in staged.entries
            if marker is None or id(marker) in alive
            for row in rows
        ]
        staged.entries = []
        if not rows:
            return
        insert(alias, rows)
        if connection.in_atomic_block:
            transaction.on_commit(self.wake, using=alias)
        else:
            self.wake()


class _Marker:
    """A distinct on_commit callable per staged message that has no delivery of its own."""

    __slots__ = ()

    def __call__(self) -> None:
        pass


def install(writer: OutboxWriter | None) -> None:
    """Make writer the dispatcher's forwarder (None: take the outbox out)."""
    global _writer
    old, _writer = _writer, writer
    if writer is not None:
        writer.dispatcher.set_forwarder(writer)
    elif old is not None:
        old.dispatcher.set_forwarder(None)


@contextlib.contextmanager
def atomic(using: str | None = None, *, durable: bool = False) -> Iterator[None]:
    """``transaction.atomic()`` that writes the outbox rows of its messages in one INSERT.

    Use it where messages are twittered inside a transaction (with the
    outbox on): the rows are staged and written as the outermost such block
    exits, inside the transaction, so they commit or roll back with it.
    Without the outbox it is ``transaction.atomic``. Works as a decorator:
    ``@atomic()``.
    """
    writer = _writer
    alias = using or (writer.alias if writer is not None else "default")
    with transaction.atomic(using=alias, durable=durable):
        if writer is None or alias != writer.alias or alias in _batches.by_alias:
            yield
            return
        staged = _batches.by_alias[alias] = _Staged()
        try:
            yield
            writer.flush(staged)
        finally:
            del _batches.by_alias[alias]


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Write the outbox rows of the messages sent in the block in one INSERT as it exits.

    For code that sends many messages outside a transaction of its own (the
    JSON-RPC endpoint): no transaction is opened, and nothing touches the
    database when no row is written. Inside a transaction the rows are
    written in it, as with ``atomic()``. A database error at the exit
    propagates.
    """
    writer = _writer
    if writer is None or writer.alias in _batches.by_alias:
        yield
        return
    staged = _batches.by_alias[writer.alias] = _Staged(loose=True)
    try:
        yield
        writer.flush(staged)
    finally:
        del _batches.by_alias[writer.alias]


def stage_on_commit(message: Message, deliver: Callable[[], None], using: str | None) -> bool:
    """For twitter_on_commit: write message's rows now (staged), deliver locally at commit.

    Returns False when the outbox does not take the message (it is off, or
    no transaction is open on its database): the caller sends it as usual.
    """
    writer = _writer
    if writer is None:
        return False
    alias = using or writer.alias
    if alias != writer.alias or not connections[alias].in_atomic_block:
        return False
    rows = writer.rows(message)  # TypeError before anything is registered
    transaction.on_commit(deliver, using=alias)
    if rows:
        writer.write(rows, deliver)
    if any(not isinstance(relay, Peers) for relay in writer.dispatcher.relays):
        transaction.on_commit(partial(writer.relay_others, message), using=alias)
    return True
