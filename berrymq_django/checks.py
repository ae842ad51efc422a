"""System checks for the BERRYMQ setting, shown by ``manage.py check``.

======================== ===============================================================
Id                       Problem
======================== ===============================================================
berrymq_django.E001      a key of BERRYMQ that no setting has (with a "did you mean")
berrymq_django.E002      BERRYMQ is not a dict
berrymq_django.E003      a value of the wrong type or range
berrymq_django.E004      an import string that does not import, or names the wrong kind
berrymq_django.E005      a malformed PEERS entry (URL, STYLE, identifiers, numbers)
berrymq_django.E006      a MODEL_EVENTS entry that names no installed model
berrymq_django.E007      "rest_framework" missing from INSTALLED_APPS
berrymq_django.E008      an API_KEYS name that other callers' principals use
berrymq_django.E009      BACKEND_OPTIONS that the BACKEND refuses
berrymq_django.E010      an interconnected peer while SELF_URL is not set
berrymq_django.E011      OUTBOX names a DATABASE that DATABASES lacks
berrymq_django.W001      ALLOW_ANONYMOUS while DEBUG is False
berrymq_django.W002      an API key shorter than MIN_API_KEY_LENGTH while DEBUG is False
berrymq_django.W003      the outbox's oldest pending message is older than WARN_SECONDS
                         (a database check: ``manage.py check --database default``)
berrymq_django.W004      METRICS_PUBLIC while prometheus-client is not installed
======================== ===============================================================

Start-up never stops on a mistake: the app reads BERRYMQ leniently, logging each
malformed value and using its default, skipping a MODEL_EVENTS label it cannot
resolve and peers it cannot configure. These checks report every problem at
once, including keys only the JSON-RPC endpoint reads; none of them raises,
whatever the settings hold.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

from berrymq_django.conf import DEFAULTS, IMPORT_STRINGS, perform_import, validate
from berrymq_django.core.api import default_dispatcher
from berrymq_django.metrics import INSTALL_HINT, prometheus_available
from berrymq_django.outbox.options import outbox_options
from berrymq_django.peering import peer_configs
from berrymq_django.rpc.peers import CALLBACK_PRINCIPAL_PREFIX

__all__ = [
    "MIN_API_KEY_LENGTH",
    "check_dependencies",
    "check_metrics",
    "check_outbox",
    "check_security",
    "check_settings",
]

# 32 characters of secrets.token_urlsafe() carry about 190 bits.
MIN_API_KEY_LENGTH = 32


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to word (ignoring case), or None if none is close."""
    by_folded = {candidate.casefold(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.casefold(), by_folded, n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Check every key and value of BERRYMQ; return the errors found."""
    user = getattr(settings, "BERRYMQ", None)
    if user is None:
        user = {}
    if not isinstance(user, Mapping):
        return [
            checks.Error(
                f"The BERRYMQ setting must be a dict, not {type(user).__name__} ({user!r}).",
                hint='Write BERRYMQ = {"KEY": value, ...} in settings.py.',
                id="berrymq_django.E002",
            )
        ]
    errors: list[Any] = []
    for key in user:
        if key not in DEFAULTS:
            errors.append(_unknown_key(key))
    bad: set[str] = set()  # keys already reported: their later checks would only repeat it
    for key, value in user.items():
        if key not in DEFAULTS:
            continue
        try:
            validate(key, value)
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id="berrymq_django.E003"))
            bad.add(key)
            continue
        if key in IMPORT_STRINGS:
            found = _import_errors(key, value)
            errors.extend(found)
            if found:
                bad.add(key)
    if not bad & {"BACKEND", "BACKEND_OPTIONS"}:
        errors.extend(_backend_errors(user))
    if "PEERS" not in bad:
        errors.extend(_peer_errors(user.get("PEERS")))
        if "SELF_URL" not in bad:
            errors.extend(_callback_errors(user.get("PEERS"), user.get("SELF_URL")))
    errors.extend(_reserved_key_names(user.get("API_KEYS")))
    errors.extend(_model_event_errors(user.get("MODEL_EVENTS")))
    if "OUTBOX" in user and "OUTBOX" not in bad:
        errors.extend(_outbox_errors(user["OUTBOX"]))
    return errors


def _outbox_errors(value: Any) -> list[Any]:
    database = outbox_options(value).database
    if database in settings.DATABASES:
        return []
    return [
        checks.Error(
            f"BERRYMQ setting 'OUTBOX' names DATABASE {database!r}, which DATABASES lacks.",
            hint=f"Use one of {', '.join(map(repr, settings.DATABASES))}.",
            id="berrymq_django.E011",
        )
    ]


def check_outbox(
    app_configs: Iterable[AppConfig] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Warn when the outbox's oldest pending message waits longer than WARN_SECONDS.

    A database check: it runs with ``manage.py check --database <alias>``.
    """
    try:
        options = outbox_options(getattr(settings, "BERRYMQ", {}).get("OUTBOX"))
    except (ImproperlyConfigured, AttributeError):
        return []  # check_settings reports it
    if not options.enabled or options.database not in (databases or ()):
        return []
    from berrymq_django.outbox.store import stats  # the model: loaded once apps are ready
    from berrymq_django.outbox.table import TABLE

    try:
        if TABLE not in connections[options.database].introspection.table_names():
            return []  # not migrated yet (this runs before ``migrate`` creates it)
        figures = stats(options.database)
    except DatabaseError as exc:
        return [checks.Warning(f"berryMQ outbox: cannot read it: {exc}", id="berrymq_django.W003")]
    return [
        checks.Warning(
            f"berryMQ outbox: the oldest message pending for {name!r} has waited "
            f"{entry['oldest_pending_seconds']:.0f} s ({entry['pending']} pending), more than "
            f"WARN_SECONDS ({options.warn_seconds:g}).",
            hint="Is the relay running (the site, or manage.py berrymq_relay), and is the "
            "destination up? manage.py berrymq_outbox shows every destination.",
            id="berrymq_django.W003",
        )
        for name, entry in figures.items()
        if (entry["oldest_pending_seconds"] or 0) > options.warn_seconds
    ]


def _unknown_key(key: Any) -> Any:
    match = did_you_mean(key, DEFAULTS) if isinstance(key, str) else None
    hint = f"Did you mean {match!r}?" if match else f"Valid keys are: {', '.join(DEFAULTS)}."
    return checks.Error(
        f"Unknown key {key!r} in the BERRYMQ setting.", hint=hint, id="berrymq_django.E001"
    )


def _import_errors(key: str, value: Any) -> list[Any]:
    items = value if isinstance(value, list | tuple) else [value]
    errors = []
    for item in items:
        try:
            perform_import(item, key)
        except ImproperlyConfigured as exc:
            hint = (
                "Check the dotted path: 'package.module.ClassName'."
                if isinstance(exc.__cause__, ImportError)
                else "Name a class of that kind, not a module, function or instance."
            )
            errors.append(checks.Error(str(exc), hint=hint, id="berrymq_django.E004"))
    return errors


def _peer_errors(peers: Any) -> list[Any]:
    # The peering code owns the shape of an entry; check each one through it.
    if not isinstance(peers, Mapping):
        return []  # E003 already reported the shape
    errors = []
    for name, options in peers.items():
        try:
            peer_configs({name: options})
        except ImproperlyConfigured as exc:
            errors.append(
                checks.Error(
                    str(exc),
                    hint="See the README's 'Connecting sites' section for each PEERS option.",
                    id="berrymq_django.E005",
                )
            )
    return errors


def _backend_errors(user: Mapping[str, Any]) -> list[Any]:
    # Build the backend as start-up would, unless the running one already was.
    backend_class = perform_import(user.get("BACKEND", DEFAULTS["BACKEND"]), "BACKEND")
    options = dict(user.get("BACKEND_OPTIONS", DEFAULTS["BACKEND_OPTIONS"]))
    current = default_dispatcher.backend
    if type(current) is backend_class and getattr(current, "options", None) == options:
        return []
    try:
        backend = backend_class(**options)
    except Exception as exc:  # whatever the class raises, the check reports it
        # The options may hold passwords: name the class and the error, not the values.
        return [
            checks.Error(
                f"BERRYMQ setting 'BACKEND_OPTIONS' does not suit BACKEND "
                f"{backend_class.__module__}.{backend_class.__qualname__}: {exc}",
                hint="Give only the options that backend documents "
                "(the README's 'Scaling out' section lists the Redis backend's).",
                id="berrymq_django.E009",
            )
        ]
    backend.close()
    return []


def _callback_errors(peers: Any, self_url: Any) -> list[Any]:
    # An interconnected peer calls us back at SELF_URL: without it, it cannot.
    if self_url or not isinstance(peers, Mapping):
        return []
    return [
        checks.Error(
            f"BERRYMQ['PEERS'][{name!r}] is interconnected, so the peer must call this site "
            "back, but BERRYMQ 'SELF_URL' is not set.",
            hint="Set SELF_URL to this site's endpoint URL (e.g. \"https://example.com/berrymq/"
            'rpc/"), or give the peer "STYLE": "oneway".',
            id="berrymq_django.E010",
        )
        for name, options in peers.items()
        if _well_formed(name, options) and options.get("STYLE", "interconnect") == "interconnect"
    ]


def _well_formed(name: str, options: Any) -> bool:
    # An entry E005 reports is not checked further: one problem at a time per peer.
    try:
        peer_configs({name: options})
    except ImproperlyConfigured:
        return False
    return True


def _reserved_key_names(keys: Any) -> list[Any]:
    # A key holder's name is its principal: it must not be one that sessions,
    # anonymous callers or interconnected peers get, or they would share tokens.
    if not isinstance(keys, Mapping):
        return []
    return [
        checks.Error(
            f"BERRYMQ setting 'API_KEYS' names a key {name!r}, a principal reserved for "
            "anonymous callers, session users ('user:...') or peers ('peer:...').",
            hint="Name each key after the site or program that holds it, e.g. 'site-b'.",
            id="berrymq_django.E008",
        )
        for name in keys
        if isinstance(name, str)
        and (name == "anonymous" or name.startswith(("user:", CALLBACK_PRINCIPAL_PREFIX)))
    ]


def _model_event_errors(labels: Any) -> list[Any]:
    if not _is_label_list(labels):
        return []  # E003 already reported the shape
    known = [model._meta.label for model in apps.get_models()]
    errors = []
    for label in labels:
        try:
            apps.get_model(label)
        except (LookupError, ValueError):
            match = did_you_mean(label, known)
            errors.append(
                checks.Error(
                    f"BERRYMQ setting 'MODEL_EVENTS' names {label!r}, which is not an "
                    "installed model.",
                    hint=f"Did you mean {match!r}?"
                    if match
                    else 'Write the model label, "app_label.ModelName", of an installed app.',
                    id="berrymq_django.E006",
                )
            )
    return errors


def _is_label_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def check_dependencies(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Check that the apps berrymq_django builds on are installed."""
    if apps.is_installed("rest_framework"):
        return []
    return [
        checks.Error(
            '"rest_framework" is not in INSTALLED_APPS.',
            hint="berrymq_django's JSON-RPC endpoint is a Django REST framework view: "
            'add "rest_framework" to INSTALLED_APPS.',
            id="berrymq_django.E007",
        )
    ]


def check_metrics(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Warn when METRICS_PUBLIC asks for metrics that cannot be served (no prometheus-client)."""
    user = getattr(settings, "BERRYMQ", None)
    if not isinstance(user, Mapping) or user.get("METRICS_PUBLIC") is not True:
        return []
    if prometheus_available():
        return []
    return [
        checks.Warning(
            "BERRYMQ setting 'METRICS_PUBLIC' is True, but prometheus-client is not installed: "
            "berrymq/metrics answers 501.",
            hint=INSTALL_HINT,
            id="berrymq_django.W004",
        )
    ]


def check_security(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Warn about settings that open the JSON-RPC endpoint in production (DEBUG False)."""
    user = getattr(settings, "BERRYMQ", None)
    if settings.DEBUG or not isinstance(user, Mapping):
        return []
    warnings: list[Any] = []
    if user.get("ALLOW_ANONYMOUS") is True:
        warnings.append(
            checks.Warning(
                "BERRYMQ setting 'ALLOW_ANONYMOUS' is True while DEBUG is False: anyone who "
                "reaches the JSON-RPC endpoint may send messages and pull queues.",
                hint='Give each client a key in BERRYMQ["API_KEYS"] and remove ALLOW_ANONYMOUS.',
                id="berrymq_django.W001",
            )
        )
    keys = user.get("API_KEYS")
    if isinstance(keys, Mapping):
        for principal, key in keys.items():
            if isinstance(key, str) and len(key) < MIN_API_KEY_LENGTH:
                warnings.append(
                    checks.Warning(
                        f"The API key of {principal!r} in BERRYMQ setting 'API_KEYS' is "
                        f"{len(key)} characters long, too short to resist guessing.",
                        hint=f"Use at least {MIN_API_KEY_LENGTH} characters, e.g. from "
                        'python -c "import secrets; print(secrets.token_urlsafe(32))".',
                        id="berrymq_django.W002",
                    )
                )
    return warnings


def register_checks() -> None:
    """Register this module's checks with Django (idempotent: the registry is a set)."""
    checks.register(check_settings)
    checks.register(check_dependencies)
    checks.register(check_metrics)
    checks.register(check_security, checks.Tags.security)
    checks.register(check_outbox, checks.Tags.database)
