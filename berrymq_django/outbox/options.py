"""BERRYMQ["OUTBOX"]: the durable outbox's settings, read and checked in one place.

    BERRYMQ = {"OUTBOX": {"ENABLED": True, "DATABASE": "default", "BATCH": 500}}

Every key is optional; ``outbox_options`` fills in the defaults and raises
ImproperlyConfigured naming the key and the value that is wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from numbers import Real
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = ["OutboxOptions", "outbox_options"]


@dataclasses.dataclass(frozen=True)
class OutboxOptions:
    """The outbox's settings (keys upper-case in BERRYMQ["OUTBOX"]).

    enabled: write non-local messages to the outbox table (default False).
    database: the alias of the database holding it, which should be the one
    the site's transactions write to (default "default").
    batch: most rows a relay sends to one destination per call (default 500).
    retention_seconds: keep delivered rows this long (0: delete at once).
    relay: run the relay in the site's processes (False: only ``manage.py
    berrymq_relay`` sends; the web workers only write).
    poll_seconds: how often an idle relay looks for rows written elsewhere.
    warn_seconds: the system check warns when the oldest pending row is older.
    """

    enabled: bool = False
    database: str = "default"
    batch: int = 500
    retention_seconds: float = 0.0
    relay: bool = True
    poll_seconds: float = 0.1
    warn_seconds: float = 300.0


_KEYS = {field.name.upper(): field.name for field in dataclasses.fields(OutboxOptions)}


def _positive(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and 0 < float(value) < 1e9


def outbox_options(value: Any) -> OutboxOptions:
    """Return the OutboxOptions a BERRYMQ["OUTBOX"] value gives; ImproperlyConfigured if bad."""
    where = "BERRYMQ setting 'OUTBOX'"
    if value is None:
        return OutboxOptions()
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict of options, not {value!r}.")
    unknown = sorted(str(key) for key in value if key not in _KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown option(s) {', '.join(unknown)}; valid ones are "
            f"{', '.join(_KEYS)}."
        )
    fields = {_KEYS[key]: item for key, item in value.items()}
    for key in ("enabled", "relay"):
        if key in fields and not isinstance(fields[key], bool):
            raise ImproperlyConfigured(
                f"{where}[{key.upper()!r}] must be True or False, not {fields[key]!r}."
            )
    database = fields.get("database", "default")
    if not isinstance(database, str) or not database:
        raise ImproperlyConfigured(
            f"{where}['DATABASE'] must be a database alias, not {database!r}."
        )
    batch = fields.get("batch", 500)
    if not (isinstance(batch, int) and not isinstance(batch, bool) and 0 < batch <= 10_000):
        raise ImproperlyConfigured(
            f"{where}['BATCH'] must be an int from 1 to 10000, not {batch!r}."
        )
    retention = fields.get("retention_seconds", 0.0)
    if not (retention == 0 or _positive(retention)) or isinstance(retention, bool):
        raise ImproperlyConfigured(
            f"{where}['RETENTION_SECONDS'] must be 0 or a positive number, not {retention!r}."
        )
    for key in ("poll_seconds", "warn_seconds"):
        if key in fields and not _positive(fields[key]):
            raise ImproperlyConfigured(
                f"{where}[{key.upper()!r}] must be a positive number of seconds, "
                f"not {fields[key]!r}."
            )
    return OutboxOptions(**fields)
