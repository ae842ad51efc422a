"""Describe the follower network: who follows which identifier, as rows, a table or JSON.

The ``berrymq_followers`` command prints these; ``show_network()`` (in the
core) gives the same network as Graphviz DOT source.
"""

from __future__ import annotations

import dataclasses
import json
from itertools import groupby
from typing import Any

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher

__all__ = ["FollowerRow", "follower_rows", "render_json", "render_table"]


@dataclasses.dataclass(frozen=True)
class FollowerRow:
    """One subscription: the identifier pattern and what follows it."""

    identifier: str
    name: str  # dotted path, or Queue('pattern') for a queue
    kind: str  # "function", "method" or "queue"
    is_async: bool
    guarded: bool  # whether a guard_condition filters further
    group: str | None = None  # the follower group it is a member of

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
        )
        for sub in dispatcher.subscriptions()  # registration order = delivery order
    ]
    return sorted(rows, key=lambda row: row.identifier)  # stable: keeps delivery order


def render_table(rows: list[FollowerRow]) -> str:
    """Return rows as an aligned text table, each identifier shown once, and a count."""
    if not rows:
        return "No followers are registered.\n"
    header = ("IDENTIFIER", "FOLLOWER", "KIND")
    lines: list[tuple[str, str, str]] = []
    for identifier, group in groupby(rows, key=lambda row: row.identifier):
        for index, row in enumerate(group):
            lines.append((identifier if index == 0 else "", row.name, row.kind_label))
    widths = [max(len(line[col]) for line in [header, *lines]) for col in range(2)]
    text = [
        f"{first:<{widths[0]}}  {second:<{widths[1]}}  {third}".rstrip()
        for first, second, third in [header, *lines]
    ]
    identifiers = len({row.identifier for row in rows})
    text.append("")
    text.append(f"{_plural(identifiers, 'identifier')}, {_plural(len(rows), 'follower')}.")
    return "\n".join(text) + "\n"


def render_json(rows: list[FollowerRow]) -> str:
    """Return rows as JSON: [{"identifier", "followers": [{name, kind, async, guarded, group}]}].

    ``group`` is the follower group's name, or null for a follower of its own.
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
                }
                for row in group
            ],
        }
        for identifier, group in groupby(rows, key=lambda row: row.identifier)
    ]
    return json.dumps(document, indent=2) + "\n"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
