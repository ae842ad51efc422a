"""The outbox table's name, row states and the one write on the send path.

Kept apart from the model so the writer (imported with the app, before the
model registry is ready) writes without loading the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import orjson
from django.db import connections

__all__ = ["DEAD", "DELIVERED", "PENDING", "TABLE", "Row", "insert"]

TABLE = "berrymq_outbox"
#: A row's state: waiting for its destination, delivered (kept for RETENTION_SECONDS),
#: or refused for good by the destination (a dead letter, with the error).
PENDING, DELIVERED, DEAD = 0, 1, 2

_COLUMNS = ("destination", "identifier", "uid", "payload", "created", "state", "error")
# Rows per INSERT statement: 5 parameters each stays under SQLite's 32766 and PG's 65535.
_ROWS_PER_STATEMENT = 2000
_FROM_JSON = (
    "SELECT r->>0, r->>1, r->>2, r->>3, (r->>4)::float8, "
    f"{PENDING}, '' FROM json_array_elements(%s::json) AS r"
)


class Row(NamedTuple):
    """A row to write: where it goes, the message's identifier and uid, its JSON, when (Unix s)."""

    destination: str
    identifier: str
    uid: str
    payload: str
    created: float


def insert(alias: str, rows: Sequence[Row]) -> None:
    """Write rows (pending) in one statement (per 2000 rows but on PostgreSQL), in the
    current transaction (at once in autocommit). Raises the database's error as any
    write would."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(TABLE)} ({', '.join(quote(c) for c in _COLUMNS)}) "
    if connection.vendor == "postgresql":
        # The rows as one JSON parameter: quoting one string and parsing one JSON
        # document is far cheaper, on both sides, than thousands of placeholders.
        with connection.cursor() as cursor:
            cursor.execute(head + _FROM_JSON, [orjson.dumps([tuple(r) for r in rows]).decode()])
        return
    head += "VALUES "
    one = f"(%s, %s, %s, %s, %s, {PENDING}, '')"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            params = [value for row in chunk for value in row]
            cursor.execute(head + ", ".join([one] * len(chunk)), params)
