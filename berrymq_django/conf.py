"""Read the ``BERRYMQ`` Django setting: project values laid over defaults, cached.

    from berrymq_django.conf import berrymq_settings
    berrymq_settings.BACKEND        # the backend class, imported once

The cache is dropped whenever ``setting_changed`` fires for ``BERRYMQ``, so
``override_settings(BERRYMQ={...})`` is seen at once.
"""

from __future__ import annotations

from collections.abc import Mapping
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
}

# Settings given as dotted paths; a value that is already an object is kept as is.
IMPORT_STRINGS = frozenset({"BACKEND"})


def perform_import(value: Any, key: str) -> Any:
    """Import ``value`` when it is a dotted path; name ``key`` if that fails."""
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
        """Return the project's BERRYMQ mapping, checked for shape and unknown keys."""
        if self._explicit is not None:
            user = self._explicit
        else:
            user = getattr(settings, "BERRYMQ", None) or {}
        if not isinstance(user, Mapping):
            raise ImproperlyConfigured(
                f"The BERRYMQ setting must be a dict, not {type(user).__name__}."
            )
        # A misspelt key would otherwise be ignored without a word.
        unknown = sorted(set(user) - set(self.defaults))
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown BERRYMQ setting(s): {', '.join(unknown)}. "
                f"Valid keys are: {', '.join(self.defaults)}."
            )
        return user

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not cached on the instance yet.
        if attr.startswith("_") or attr not in self.defaults:
            raise AttributeError(f"Invalid BERRYMQ setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
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
