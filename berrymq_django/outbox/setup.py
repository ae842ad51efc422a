"""Turn the outbox on or off from BERRYMQ["OUTBOX"]: the writer and the relay."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError

from ..conf import berrymq_settings
from ..core.api import default_dispatcher
from ..core.lifecycle import lifecycle
from ..metrics.sources import Figure, add_figure_source, remove_figure_source
from ..peering import peers
from .options import OutboxOptions, outbox_options
from .relay import OutboxRelay
from .store import stats
from .writer import OutboxWriter, install

__all__ = ["configure_outbox", "current_options", "outbox_figures", "outbox_status", "relay"]

_relay: OutboxRelay | None = None
_options = OutboxOptions()


def current_options() -> OutboxOptions:
    """Return the outbox options in force (from the last configure_outbox)."""
    return _options


def relay() -> OutboxRelay | None:
    """Return this process's relay, None when the outbox is off."""
    return _relay


def outbox_status() -> dict[str, Any]:
    """Return the outbox's figures: per destination pending, oldest_pending_seconds and dead,
    and this process's relay (running, sent, dead, duplicates, last_error), or an error."""
    report: dict[str, Any] = {"relay": None if _relay is None else _relay.status()}
    try:
        report["destinations"] = stats(_options.database)
    except DatabaseError as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    return report


def outbox_figures() -> list[Figure]:
    """Return the outbox's metrics: per destination pending, oldest pending age and dead
    rows (one query), and this process's relay counters. Raises DatabaseError."""
    rows: list[Figure] = []
    for name, entry in stats(_options.database).items():
        where = {"destination": name}
        rows.append(Figure("outbox_pending", entry["pending"], PENDING_HELP, labels=where))
        age = entry["oldest_pending_seconds"] or 0.0
        rows.append(Figure("outbox_oldest_pending_seconds", age, AGE_HELP, labels=where))
        rows.append(Figure("outbox_dead", entry["dead"], DEAD_HELP, labels=where))
    if _relay is not None:
        figures = _relay.status()
        for key, text in RELAY_COUNTERS:
            rows.append(Figure(f"outbox_relay_{key}", figures[key], text, kind="counter"))
    return rows


PENDING_HELP = "Messages in the outbox waiting for their destination."
AGE_HELP = "Seconds the oldest pending message of the destination has waited (0: none)."
DEAD_HELP = "Outbox dead letters: messages the destination refused for good."
RELAY_COUNTERS = (
    ("sent", "Messages this process's outbox relay delivered."),
    ("dead", "Messages this process's outbox relay made dead letters."),
    ("duplicates", "Copies the receiving sites reported as already delivered."),
)


def configure_outbox(*, run_relay: bool | None = None) -> OutboxOptions:
    """Apply BERRYMQ["OUTBOX"]: install the writer and (with RELAY) the relay, or remove them.

    run_relay overrides RELAY (``berrymq_relay`` runs one whatever it says).
    Raises ImproperlyConfigured naming a bad option.
    """
    global _relay, _options
    options = outbox_options(berrymq_settings.OUTBOX)
    old = _relay
    if old is not None:
        lifecycle.discard(old)
        old.stop(0.0)
        _relay = None
    _options = options
    if not options.enabled:
        install(None)
        remove_figure_source("outbox")
        return options
    add_figure_source("outbox", outbox_figures)
    wanted = options.relay if run_relay is None else run_relay
    new = OutboxRelay(default_dispatcher, peers(), options) if wanted else None
    install(OutboxWriter(default_dispatcher, options.database, new.wake if new else _nothing))
    if new is not None:
        _relay = new
        lifecycle.add(new)
    return options


def _nothing() -> None:
    pass
