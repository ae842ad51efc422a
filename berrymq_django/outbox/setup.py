"""Turn the outbox on or off from BERRYMQ["OUTBOX"]: the writer and the relay."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError

from ..conf import berrymq_settings
from ..core.api import default_dispatcher
from ..core.lifecycle import lifecycle
from ..peering import peers
from .options import OutboxOptions, outbox_options
from .relay import OutboxRelay
from .store import stats
from .writer import OutboxWriter, install

__all__ = ["configure_outbox", "current_options", "outbox_status", "relay"]

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
        return options
    wanted = options.relay if run_relay is None else run_relay
    new = OutboxRelay(default_dispatcher, peers(), options) if wanted else None
    install(OutboxWriter(default_dispatcher, options.database, new.wake if new else _nothing))
    if new is not None:
        _relay = new
        lifecycle.add(new)
    return options


def _nothing() -> None:
    pass
