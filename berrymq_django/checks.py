"""System checks for the BERRYMQ setting, shown by ``manage.py check``.

======================== ===============================================================
Id                       Problem
======================== ===============================================================
berrymq_django.E001      a key of BERRYMQ that no setting has (with a "did you mean")
berrymq_django.E002      BERRYMQ is not a dict
berrymq_django.E003      a value of the wrong type or range
berrymq_django.E004      an import string that does not import
berrymq_django.E005      a malformed PEERS entry (URL, STYLE, identifiers, numbers)
berrymq_django.E006      a MODEL_EVENTS entry that names no installed model
berrymq_django.E007      "rest_framework" missing from INSTALLED_APPS
berrymq_django.E008      an API_KEYS name that other callers' principals use
berrymq_django.W001      ALLOW_ANONYMOUS while DEBUG is False
berrymq_django.W002      an API key shorter than MIN_API_KEY_LENGTH while DEBUG is False
======================== ===============================================================

Values read at start-up (BACKEND, MULTIPLICITY, MODEL_EVENTS...) also raise
``ImproperlyConfigured`` when first read; the checks report every problem at
once, including keys only the JSON-RPC endpoint reads, on its first request.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from berrymq_django.conf import DEFAULTS, IMPORT_STRINGS, perform_import, validate
from berrymq_django.peering import peer_configs
from berrymq_django.rpc.peers import CALLBACK_PRINCIPAL_PREFIX

__all__ = ["MIN_API_KEY_LENGTH", "check_dependencies", "check_security", "check_settings"]

# 32 characters of secrets.token_urlsafe() carry about 190 bits.
MIN_API_KEY_LENGTH = 32


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to word (ignoring case), or None if none is close."""
    by_folded = {candidate.casefold(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.casefold(), by_folded, n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Check every key and value of BERRYMQ; return the errors found."""
    user = getattr(settings, "BERRYMQ", None) or {}
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
    for key, value in user.items():
        if key not in DEFAULTS:
            continue
        try:
            validate(key, value)
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id="berrymq_django.E003"))
            continue
        if key in IMPORT_STRINGS:
            errors.extend(_import_errors(key, value))
    errors.extend(_peer_errors(user.get("PEERS")))
    errors.extend(_reserved_key_names(user.get("API_KEYS")))
    errors.extend(_model_event_errors(user.get("MODEL_EVENTS")))
    return errors


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
            errors.append(
                checks.Error(
                    str(exc),
                    hint="Check the dotted path: 'package.module.ClassName'.",
                    id="berrymq_django.E004",
                )
            )
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


def check_security(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """Warn about settings that open the JSON-RPC endpoint in production (DEBUG False)."""
    user = getattr(settings, "BERRYMQ", None) or {}
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
    checks.register(check_security, checks.Tags.security)
