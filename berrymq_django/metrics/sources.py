"""Figure sources: figures other parts of berryMQ add to each scrape, as plain data.

A source is a callable returning ``Figure`` rows, registered by name; it
needs no prometheus-client, so any part may register one whether or not the
``metrics`` extra is installed.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

__all__ = [
    "INSTALL_HINT",
    "Figure",
    "FigureSource",
    "add_figure_source",
    "families",
    "prometheus_available",
    "remove_figure_source",
    "source_figures",
]

logger = logging.getLogger("berrymq.metrics")

INSTALL_HINT = 'Install prometheus-client: pip install "berrymq_django[metrics]".'
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def prometheus_available() -> bool:
    """Return whether prometheus-client can be imported (the ``metrics`` extra)."""
    try:
        importlib.import_module("prometheus_client")
    except ImportError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Figure:
    """One sample from a figure source, exported as ``berrymq_<name>``.

    ``name``: letters, digits and "_" (a counter's "_total" is added on
    export); ``kind``: "gauge" or "counter"; ``labels``: a few bounded values
    (never identifiers as sent or uids). Figures of one name share one help
    text and one set of label names.
    """

    name: str
    value: float
    help: str
    kind: Literal["gauge", "counter"] = "gauge"
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


FigureSource = Callable[[], Iterable[Figure]]

_sources: dict[str, FigureSource] = {}
_sources_lock = threading.Lock()


def add_figure_source(name: str, source: FigureSource) -> None:
    """Call source() at each scrape and export what it returns; replace any of the same name.

    For example the outbox::

        add_figure_source("outbox", lambda: [
            Figure("outbox_pending", pending(), "Messages waiting in the outbox."),
            Figure("outbox_oldest_age_seconds", age(), "Age of the oldest one."),
        ])
    """
    if not callable(source):
        raise TypeError(f"A figure source must be callable, not {source!r}.")
    with _sources_lock:
        _sources[name] = source


def remove_figure_source(name: str) -> None:
    """Stop calling the source registered as name; an unknown name is ignored."""
    with _sources_lock:
        _sources.pop(name, None)


def source_figures() -> list[Figure]:
    """Call every source; return their figures (a source that raises is logged and skipped)."""
    with _sources_lock:
        sources = list(_sources.items())
    rows: list[Figure] = []
    for name, source in sources:
        try:
            rows.extend(source())
        except Exception:
            logger.exception("berryMQ metrics: figure source %r failed", name)
    return rows


def families(rows: list[Figure]) -> Iterator[Any]:
    """Group figure rows by name into metric families; skip (and log) malformed ones."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    families: dict[str, tuple[Any, list[str]]] = {}
    for row in rows:
        names = sorted(row.labels)
        if not (_NAME.fullmatch(row.name) and all(_NAME.fullmatch(n) for n in names)):
            logger.warning("berryMQ metrics: a figure with a malformed name: %r", row)
            continue
        if row.name not in families:
            cls = CounterMetricFamily if row.kind == "counter" else GaugeMetricFamily
            families[row.name] = (cls(f"berrymq_{row.name}", row.help, labels=names), names)
        family, expected = families[row.name]
        if names != expected:
            logger.warning("berryMQ metrics: %r has labels %s, not %s", row.name, names, expected)
            continue
        family.add_metric([str(row.labels[n]) for n in names], row.value)
    for family, _ in families.values():
        yield family
