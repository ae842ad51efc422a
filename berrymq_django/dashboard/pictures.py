"""The dashboard's two pictures as SVG geometry: the last hour's chart and the network.

Both are laid out here, on the server, and drawn by the templates as inline
SVG (no Graphviz, no script, no CDN); the templates escape every label.

The network is the graph ``show_network()`` gives as DOT: identifier
patterns on the left, followers (functions, methods, queues) on the right,
an edge from each pattern to each of its followers. Patterns are sorted
(as ``berrymq_followers`` lists them); followers take one row each, under
their first pattern in delivery order; each pattern sits level with the
middle of its followers, pushed down when it would overlap the one above: a
two-layer layout whose only crossings come from followers of several
patterns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["Chart", "Network", "chart", "network"]

# Network geometry, in SVG user units (about pixels).
ROW = 34  # vertical distance between two followers
BOX_HEIGHT = 24
CHAR_WIDTH = 7.2  # of the 12px monospace labels
PADDING = 10
GAP = 110  # horizontal distance between the two columns
MAX_LABEL = 60  # characters; longer labels are cut, the full text is in the tooltip


@dataclasses.dataclass(frozen=True)
class Box:
    """A labelled node: top-left corner, size, kind ("pattern", "function"...), label, title."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    label: str
    title: str

    @property
    def text_x(self) -> float:
        return self.x + PADDING

    @property
    def text_y(self) -> float:
        return self.y + self.height / 2 + 4


@dataclasses.dataclass(frozen=True)
class Network:
    """The laid-out graph: its size, boxes, and edges as SVG path data."""

    width: float
    height: float
    boxes: list[Box]
    edges: list[str]


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _width(label: str) -> float:
    return len(label) * CHAR_WIDTH + 2 * PADDING


def network(subscriptions: Sequence[Any]) -> Network:
    """Lay out subscriptions (each with pattern, label, kind) as a two-column graph."""
    kinds = {sub.label: sub.kind for sub in subscriptions}
    patterns: dict[str, list[str]] = {}  # pattern -> follower labels, in delivery order
    for sub in subscriptions:
        patterns.setdefault(str(sub.pattern), []).append(sub.label)
    patterns = dict(sorted(patterns.items()))
    # Followers grouped under their first pattern, so most edges run straight across.
    followers = {label: kinds[label] for labels in patterns.values() for label in labels}
    row_of = {label: index for index, label in enumerate(followers)}
    left_width = max((_width(_label(p)) for p in patterns), default=0.0)
    right_x = PADDING + left_width + GAP
    boxes = [
        Box(right_x, PADDING + row_of[label] * ROW, _width(_label(label)), BOX_HEIGHT, kind,
            _label(label), label)
        for label, kind in followers.items()
    ]  # fmt: skip
    # Each pattern level with the middle of its followers, in that order, never overlapping.
    wanted = sorted(
        (sum(row_of[f] for f in fs) / len(fs), pattern) for pattern, fs in patterns.items()
    )
    pattern_y: dict[str, float] = {}
    lowest = -float(ROW)
    for middle, pattern in wanted:
        y = max(PADDING + middle * ROW, lowest + ROW)
        pattern_y[pattern] = lowest = y
        boxes.append(Box(PADDING, y, left_width, BOX_HEIGHT, "pattern", _label(pattern), pattern))
    edges = []
    middle_x = (PADDING + left_width + right_x) / 2
    for pattern, labels in patterns.items():
        start_x, start_y = PADDING + left_width, pattern_y[pattern] + BOX_HEIGHT / 2
        for label in dict.fromkeys(labels):
            end_y = PADDING + row_of[label] * ROW + BOX_HEIGHT / 2
            edges.append(
                f"M{start_x:.1f},{start_y:.1f} C{middle_x:.1f},{start_y:.1f} "
                f"{middle_x:.1f},{end_y:.1f} {right_x:.1f},{end_y:.1f}"
            )
    width = right_x + max((b.width for b in boxes if b.kind != "pattern"), default=0.0) + PADDING
    height = max((b.y + BOX_HEIGHT for b in boxes), default=0.0) + PADDING
    return Network(width, height, boxes, edges)


@dataclasses.dataclass(frozen=True)
class Chart:
    """A per-minute bar chart: size, bars, the top value, first and last minute, totals."""

    width: int
    height: int
    bars: list[dict[str, Any]]  # {"name", "x", "y", "width", "height", "title"}
    top: int
    minutes: int
    first: str  # "HH:MM" UTC of the first minute
    last: str
    totals: dict[str, int]


SERIES = ("sent", "delivered", "errors")


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M", time.gmtime(epoch))


def chart(per_minute: Sequence[Sequence[float]], width: int = 600, height: int = 160) -> Chart:
    """Chart [(minute_start, sent, delivered, errors), ...], oldest first: three bars a minute.

    Bar heights run from 0 to the largest value (at least 1); minutes run
    left (oldest) to right (now). A minute with nothing has no bars.
    """
    count = len(per_minute)
    top = max([1, *(int(v) for row in per_minute for v in row[1:4])])
    slot = width / max(1, count)
    bar = slot / (len(SERIES) + 1)  # three bars and a gap
    bars = []
    for index, row in enumerate(per_minute):
        for column, name in enumerate(SERIES):
            value = int(row[column + 1])
            if not value:
                continue
            tall = value / top * height
            bars.append(
                {
                    "name": name,
                    "x": round(index * slot + column * bar, 2),
                    "y": round(height - tall, 2),
                    "width": round(bar, 2),
                    "height": round(tall, 2),
                    "title": f"{_clock(row[0])} UTC: {value} {name}",
                }
            )
    totals = {name: int(sum(row[i] for row in per_minute)) for i, name in enumerate(SERIES, 1)}
    first = _clock(per_minute[0][0]) if per_minute else ""
    last = _clock(per_minute[-1][0]) if per_minute else ""
    return Chart(width, height, bars, top, count, first, last, totals)
