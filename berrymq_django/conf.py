"""Read the ``BERRYMQ`` Django setting: project values laid over defaults, cached.

    from berrymq_django.conf import berrymq_settings
    berrymq_settings.BACKEND        # the backend class, imported once

The cache is dropped whenever ``setting_changed`` fires for ``BERRYMQ``, so
``override_settings(BERRYMQ={...})`` is seen at once.

A value is checked when it is first read: a wrong type or range raises
``ImproperlyConfigured`` naming the key and the value. Unknown keys are not an
error here: the system checks (``berrymq_django.checks``) report them with a
"did you mean" hint, so a typo never stops the process but never goes unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    # Identity: stamped on every message as its origin; None means "<hostname>-<pid>".
    "NODE_NAME": None,
    # Transport: where non-local messages go beyond this process.
    "BACKEND": "berrymq_django.backends.memory.MemoryBackend",
    "BACKEND_OPTIONS": {},
    # Discovery: modules imported from every installed app at startup.
    "AUTODISCOVER": ["receivers"],
    # Delivery: let follower exceptions propagate (True) or log and count them (False);
    # MULTIPLICITY > 0 delivers on that many threads, 0 delivers synchronously.
    "RAISE_ERRORS": False,
    "MULTIPLICITY": 0,
    # Django integration: models whose saves and deletes send "<app_label>.<model>:created",
    # ":updated" and ":deleted" after commit.
    "MODEL_EVENTS": [],
    # JSON-RPC endpoint, who may call it: Bearer keys by principal name, and DRF's classes.
    "API_KEYS": {},
    "ALLOW_ANONYMOUS": False,
    "AUTHENTICATION_CLASSES": [
        "berrymq_django.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "PERMISSION_CLASSES": ["berrymq_django.permissions.IsBerryMQClient"],
    "THROTTLE_CLASSES": [],
    # JSON-RPC endpoint, limits: each exceeded one is a JSON-RPC error, never a 500.
    "MAX_BODY_BYTES": 4 * 1024 * 1024,
    "MAX_BATCH": 1000,
    "MAX_DEPTH": 32,
    "MAX_IDENTIFIER_LENGTH": 200,
    "MAX_MESSAGES_PER_CALL": 10_000,
    "MAX_POLL_SECONDS": 25.0,
    # Call-back links one principal's interconnects may hold at once (one per address).
    "MAX_INTERCONNECTS": 16,
    # JSON-RPC endpoint, state: a connection's queue bound, and how long a uid is remembered.
    "QUEUE_MAXSIZE": 10_000,
    "DEDUP_SECONDS": 600.0,
    # Peering: where peers reach this site back, and the sites this one connects to.
    "SELF_URL": None,
    "PEERS": {},
}

# Settings given as dotted paths; a value that is already an object is kept as is.
IMPORT_STRINGS = frozenset(
    {"BACKEND", "AUTHENTICATION_CLASSES", "PERMISSION_CLASSES", "THROTTLE_CLASSES"}
)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_seconds(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and value >= 0


def _is_names(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) and item for item in value)


def _is_import_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str | type) for item in value)


# What each key accepts, as (test, description for the error message).
VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "NODE_NAME": (lambda v: v is None or (isinstance(v, str) and bool(v)), "None or a string"),
    "BACKEND": (lambda v: isinstance(v, str | type), "an import string or a class"),
    "BACKEND_OPTIONS": (lambda v: isinstance(v, Mapping), "a dict of keyword arguments"),
    "AUTODISCOVER": (_is_names, "a list of module names"),
    "RAISE_ERRORS": (lambda v: isinstance(v, bool), "True or False"),
    "MULTIPLICITY": (_is_count, "an int of 0 or more"),
    "MODEL_EVENTS": (_is_names, 'a list of model labels like "shop.Order"'),
    "API_KEYS": (
        lambda v: (
            isinstance(v, Mapping)
            and all(isinstance(k, str) and isinstance(key, str) and key for k, key in v.items())
        ),
        "a dict of principal name to key string",
    ),
    "ALLOW_ANONYMOUS": (lambda v: isinstance(v, bool), "True or False"),
    "AUTHENTICATION_CLASSES": (_is_import_list, "a list of import strings or classes"),
    "PERMISSION_CLASSES": (_is_import_list, "a list of import strings or classes"),
    "THROTTLE_CLASSES": (_is_import_list, "a list of import strings or classes"),
    "MAX_BODY_BYTES": (_is_count, "an int of 0 or more"),
    "MAX_BATCH": (_is_count, "an int of 0 or more"),
    "MAX_DEPTH": (_is_count, "an int of 0 or more"),
    "MAX_IDENTIFIER_LENGTH": (_is_count, "an int of 0 or more"),
    "MAX_MESSAGES_PER_CALL": (_is_count, "an int of 0 or more"),
    "MAX_POLL_SECONDS": (_is_seconds, "a number of seconds, 0 or more"),
    "MAX_INTERCONNECTS": (_is_count, "an int of 0 or more"),
    "QUEUE_MAXSIZE": (_is_count, "an int of 0 or more"),
    "DEDUP_SECONDS": (_is_seconds, "a number of seconds, 0 or more"),
    "SELF_URL": (lambda v: v is None or isinstance(v, str), "None or a URL string"),
    "PEERS": (lambda v: isinstance(v, Mapping), "a dict of peer name to options"),
}


# Keys whose values may hold secrets (API keys, passwords in backend URLs): an error
# describes such a value, never echoes it.
SECRET_KEYS = frozenset({"API_KEYS", "BACKEND_OPTIONS", "PEERS"})


def validate(key: str, value: Any) -> None:
    """Raise ImproperlyConfigured naming ``key`` and ``value`` if the value is malformed."""
    rule = VALIDATORS.get(key)
    if rule is not None and not rule[0](value):
        raise ImproperlyConfigured(
            f"BERRYMQ setting {key!r} must be {rule[1]}, not {_shown(key, value)}."
        )


def _shown(key: str, value: Any) -> str:
    if key not in SECRET_KEYS:
        return repr(value)
    if not isinstance(value, Mapping):
        return f"a {type(value).__name__}"
    # Name the entries at fault, without their values: the others may be valid keys.
    bad = [
        repr(name)
        for name, item in value.items()
        if not (isinstance(name, str) and isinstance(item, str) and item)
    ]
    return f"a dict whose entries {', '.join(bad)} are not strings" if bad else "a malformed dict"


def perform_import(value: Any, key: str) -> Any:
    """Import ``value`` (a dotted path, or a list of them); name ``key`` if that fails."""
    if isinstance(value, list | tuple):
        return [perform_import(item, key) for item in value]
    if not isinstance(value, str):
        return value
    try:
        return import_string(value)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"Could not import {value!r} for BERRYMQ setting {key!r}: {exc}"
        ) from exc


class BerryMQSettings:
    """Expose each BERRYMQ key as an attribute; values are computed once, then cached."""

    def __init__(
        self,
        user_settings: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        # An explicit mapping pins the values (handy in tests); None reads Django's settings.
        self._explicit = user_settings
        self.defaults = dict(DEFAULTS if defaults is None else defaults)
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> Mapping[str, Any]:
        """Return the project's BERRYMQ mapping; raise ImproperlyConfigured if it is no dict."""
        if self._explicit is not None:
            user = self._explicit
        else:
            user = getattr(settings, "BERRYMQ", None) or {}
        if not isinstance(user, Mapping):
            raise ImproperlyConfigured(
                f"The BERRYMQ setting must be a dict, not {type(user).__name__} ({user!r})."
            )
        return user

    def unknown_keys(self) -> list[str]:
        """Return the keys of the project's BERRYMQ that no setting has, sorted."""
        return sorted(str(key) for key in self.user_settings if key not in self.defaults)

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not cached on the instance yet.
        if attr.startswith("_") or attr not in self.defaults:
            raise AttributeError(f"Invalid BERRYMQ setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
        validate(attr, value)
        if attr in IMPORT_STRINGS:
            value = perform_import(value, attr)
        setattr(self, attr, value)
        self._cached.add(attr)
        return value

    def reload(self) -> None:
        """Forget every cached value so the next read sees the current settings."""
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()


berrymq_settings = BerryMQSettings()


def reload_berrymq_settings(*, setting: str, **kwargs: Any) -> None:
    """Drop the cache when BERRYMQ changes (``override_settings`` sends this)."""
    if setting == "BERRYMQ":
        berrymq_settings.reload()


setting_changed.connect(reload_berrymq_settings, dispatch_uid="berrymq_django.conf.reload")
