"""Describe the follower network: who follows which identifier, as rows, a table or JSON.

The ``berrymq_followers`` command prints these; ``show_network()`` (in the
core) gives the same network as Graphviz DOT source. Each row carries the
follower's figures (``core/figures.py``) as they were when it was read.
"""

from __future__ import annotations

import dataclasses
import json
from itertools import groupby
from typing import Any

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher

__all__ = ["FollowerRow", "follower_rows", "format_seconds", "render_json", "render_table"]


@dataclasses.dataclass(frozen=True)
class FollowerRow:
    """One subscription: the identifier pattern and what follows it."""

    identifier: str
    name: str  # dotted path, or Queue('pattern') for a queue
    kind: str  # "function", "method" or "queue"
    is_async: bool
    guarded: bool  # whether a guard_condition filters further
    group: str | None = None  # the follower group it is a member of
    delivered: int = 0  # calls that returned
    errors: int = 0  # calls that raised
    mean_seconds: float | None = None  # per call; None when none was timed
    last_error: str | None = None  # "ValueError: boom"
    last_traceback: str | None = None  # its formatted traceback, last 20 lines
    last_error_at: float | None = None  # Unix seconds

    @property
    def kind_label(self) -> str:
        """Return the kind with its qualifiers: "function (async, guarded, group stock)"."""
        notes = [word for word, on in (("async", self.is_async), ("guarded", self.guarded)) if on]
        if self.group is not None:
            notes.append(f"group {self.group}")
        return f"{self.kind} ({', '.join(notes)})" if notes else self.kind


def follower_rows(dispatcher: Dispatcher | None = None) -> list[FollowerRow]:
    """Return one row per live subscription, by identifier, then in delivery order.

    ``dispatcher`` defaults to ``default_dispatcher``.
    """
    if dispatcher is None:
        dispatcher = default_dispatcher
    rows = [
        FollowerRow(
            identifier=str(sub.pattern),
            name=sub.label,
            kind=sub.kind,
            is_async=bool(sub.is_async),
            guarded=sub.guard is not None,
            group=sub.group,
            delivered=sub.figures.delivered,
            errors=sub.figures.errors,
            mean_seconds=sub.figures.mean_seconds,
            last_error=sub.figures.last_error,
            last_traceback=sub.figures.last_traceback,
            last_error_at=sub.figures.last_error_at,
        )
        for sub in dispatcher.subscriptions()  # registration order = delivery order
    ]
    return sorted(rows, key=lambda row: row.identifier)  # stable: keeps delivery order


def render_table(rows: list[FollowerRow]) -> str:
    """Return rows as an aligned text table, each identifier shown once, and a count.

    Columns: identifier, follower, kind, then its figures: deliveries, errors
    and mean time per call ("-" when none was timed).
    """
    if not rows:
        return "No followers are registered.\n"
    header = ("IDENTIFIER", "FOLLOWER", "KIND", "DELIVERED", "ERRORS", "MEAN")
    lines: list[tuple[str, ...]] = [header]
    for identifier, group in groupby(rows, key=lambda row: row.identifier):
        for index, row in enumerate(group):
            lines.append(
                (
                    identifier if index == 0 else "",
                    row.name,
                    row.kind_label,
                    str(row.delivered),
                    str(row.errors),
                    format_seconds(row.mean_seconds),
                )
            )
    widths = [max(len(line[col]) for line in lines) for col in range(len(header))]
    text = [
        "  ".join(
            cell.rjust(width) if col >= 3 else cell.ljust(width)
            for col, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    ]
    identifiers = len({row.identifier for row in rows})
    text.append("")
    text.append(f"{_plural(identifiers, 'identifier')}, {_plural(len(rows), 'follower')}.")
    return "\n".join(text) + "\n"


def render_json(rows: list[FollowerRow]) -> str:
    """Return rows as JSON: [{"identifier", "followers": [{name, kind, async, guarded, group,
    delivered, errors, mean_seconds, last_error, last_error_at}]}].

    ``group`` is the follower group's name, or null for a follower of its own;
    ``mean_seconds``, ``last_error`` and ``last_error_at`` (Unix seconds) are
    null until a call was timed or raised.
    """
    document: list[dict[str, Any]] = [
        {
            "identifier": identifier,
            "followers": [
                {
                    "name": row.name,
                    "kind": row.kind,
                    "async": row.is_async,
                    "guarded": row.guarded,
                    "group": row.group,
                    "delivered": row.delivered,
                    "errors": row.errors,
                    "mean_seconds": row.mean_seconds,
                    "last_error": row.last_error,
                    "last_error_at": row.last_error_at,
                }
                for row in group
            ],
        }
        for identifier, group in groupby(rows, key=lambda row: row.identifier)
    ]
    return json.dumps(document, indent=2) + "\n"


def format_seconds(seconds: float | None) -> str:
    """Return a duration for people: "850ns", "12.3µs", "4.56ms", "1.20s"; "-" for None."""
    if seconds is None:
        return "-"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f}ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f}µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.2f}s"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
