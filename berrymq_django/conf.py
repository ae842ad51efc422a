"""Read the ``BERRYMQ`` Django setting: project values laid over defaults, cached.

    from berrymq_django.conf import berrymq_settings
    berrymq_settings.BACKEND        # the backend class, imported once

The cache is dropped whenever ``setting_changed`` fires for ``BERRYMQ``, so
``override_settings(BERRYMQ={...})`` is seen at once.

A value is checked when it is first read: a wrong type or range raises
``ImproperlyConfigured`` naming the key and the value. At start-up the app reads
``lenient()``-ly: a malformed value is logged and its default used, so a mistake
never stops the process (nor ``manage.py check``, which reports every one).
Unknown keys are not an error here: the system checks (``berrymq_django.checks``)
report them with a "did you mean" hint, so a typo never stops the process but
never goes unseen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from berrymq_django.backends.base import GroupPolicy
from berrymq_django.outbox.options import outbox_options
from berrymq_django.validators import VALIDATORS, is_name

logger = logging.getLogger("berrymq.conf")

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
    # Figures: time each follower call (two clock readings per call); counts are always kept.
    "FOLLOWER_TIMING": True,
    # Metrics (berrymq/metrics, needs the "metrics" extra): True lets anyone scrape them.
    "METRICS_PUBLIC": False,
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
    # Follower groups, on a backend that spreads them over processes (Redis): seconds a
    # member may hold a message before another takes it over, calls of a failing follower
    # in all, messages a group's stream keeps for its members, dead letters kept per group.
    "GROUP_CLAIM_SECONDS": 30.0,
    "GROUP_MAX_ATTEMPTS": 3,
    "GROUP_MAXLEN": 1_000_000,
    "GROUP_DEAD_LETTERS": 10_000,
    # Durable delivery: write non-local messages to a table in the caller's transaction and
    # relay them from there (ENABLED, DATABASE, BATCH, RETENTION_SECONDS, RELAY, ...).
    "OUTBOX": {},
}

# Settings given as dotted paths (a value that is already an object is kept as is),
# with the methods what they name must have, and what that is called in errors.
IMPORT_STRINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "BACKEND": (("bind", "publish", "shared_store", "close"), "a berryMQ backend class"),
    "AUTHENTICATION_CLASSES": (("authenticate",), "a DRF authentication class"),
    "PERMISSION_CLASSES": (("has_permission",), "a DRF permission class"),
    "THROTTLE_CLASSES": (("allow_request",), "a DRF throttle class"),
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
    if key == "API_KEYS":
        _validate_api_keys(value)
    if key == "OUTBOX":
        outbox_options(value)


def _shown(key: str, value: Any) -> str:
    if key not in SECRET_KEYS:
        return repr(value)
    if not isinstance(value, Mapping):
        return f"a {type(value).__name__}"
    # Name the entries at fault, without their values: the others may be valid keys.
    if key == "API_KEYS":
        faults = {
            "names that are blank or not strings": [n for n in value if not is_name(n)],
            "API keys that are not strings for": [
                n for n, item in value.items() if is_name(n) and not isinstance(item, str)
            ],
            "empty API keys for": [n for n, item in value.items() if is_name(n) and item == ""],
        }
        said = [f"{what} {', '.join(map(repr, names))}" for what, names in faults.items() if names]
        return f"a dict with {'; '.join(said)}" if said else "a malformed dict"
    bad = [repr(name) for name in value if not (isinstance(name, str) and name.strip())]
    return f"a dict with the names {', '.join(bad)}" if bad else "a malformed dict"


def _validate_api_keys(keys: Mapping[str, str]) -> None:
    # A key travels in "Authorization: Bearer <key>": a header carries visible ASCII,
    # and the endpoint strips the spaces around it.
    for name, key in keys.items():
        if not (key.isascii() and key.isprintable()) or key != key.strip():
            raise ImproperlyConfigured(
                f"BERRYMQ setting 'API_KEYS' gives {name!r} a key with spaces around it or "
                "characters an HTTP header cannot carry: use visible ASCII only."
            )
    holders: dict[str, str] = {}
    for name, key in keys.items():
        if key in holders:
            raise ImproperlyConfigured(
                f"BERRYMQ setting 'API_KEYS' gives {holders[key]!r} and {name!r} the same key: "
                "the endpoint could not tell them apart."
            )
        holders[key] = name


def perform_import(value: Any, key: str) -> Any:
    """Import ``value`` (a dotted path, or a list of them); name ``key`` if that fails.

    What it names must be of the kind the key needs (a backend class for BACKEND,
    DRF classes for the ``*_CLASSES``); ImproperlyConfigured otherwise.
    """
    if isinstance(value, list | tuple):
        return [perform_import(item, key) for item in value]
    imported = value
    if isinstance(value, str):
        try:
            imported = import_string(value)
        except Exception as exc:  # ImportError, or whatever the module raised importing
            raise ImproperlyConfigured(
                f"Could not import {value!r} for BERRYMQ setting {key!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    _check_kind(key, value, imported)
    return imported


def _check_kind(key: str, value: Any, imported: Any) -> None:
    kind = IMPORT_STRINGS.get(key)
    if kind is None:
        return
    methods, what = kind
    # DRF composes permissions (IsAuthenticated & IsAdminUser) into callables that
    # are not classes; a backend must be a class, as the dispatcher compares types.
    usable = isinstance(imported, type) or (key != "BACKEND" and callable(imported))
    if usable and isinstance(imported, type):
        usable = all(callable(getattr(imported, name, None)) for name in methods)
    if not usable:
        raise ImproperlyConfigured(
            f"BERRYMQ setting {key!r} names {value!r}, which is not {what} "
            f"(a class with {', '.join(methods)})."
        )


class BerryMQSettings:
    """Expose each BERRYMQ key as an attribute; values are computed once, then cached.

    A malformed value raises ImproperlyConfigured when read, except inside
    ``lenient()``, where it is logged and the key's default is used instead.
    """

    def __init__(
        self,
        user_settings: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        # An explicit mapping pins the values (handy in tests); None reads Django's settings.
        self._explicit = user_settings
        self.defaults = dict(DEFAULTS if defaults is None else defaults)
        self._cached: set[str] = set()
        self._lenient = False

    @property
    def user_settings(self) -> Mapping[str, Any]:
        """Return the project's BERRYMQ mapping; raise ImproperlyConfigured if it is no dict."""
        if self._explicit is not None:
            user: Any = self._explicit
        else:
            user = getattr(settings, "BERRYMQ", None)
            if user is None:
                return {}
        if not isinstance(user, Mapping):
            raise ImproperlyConfigured(
                f"The BERRYMQ setting must be a dict, not {type(user).__name__} ({user!r})."
            )
        return user

    def unknown_keys(self) -> list[str]:
        """Return the keys of the project's BERRYMQ that no setting has, sorted."""
        return sorted(str(key) for key in self.user_settings if key not in self.defaults)

    @contextlib.contextmanager
    def lenient(self) -> Iterator[None]:
        """Read malformed values as their defaults, logging each, while the block runs.

        For start-up, where a mistake must not stop the process: the values read
        in the block stay cached (until ``reload()``), and ``manage.py check``
        reports every mistake.
        """
        self._lenient = True
        try:
            yield
        finally:
            self._lenient = False

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not cached on the instance yet.
        if attr.startswith("_") or attr not in self.defaults:
            raise AttributeError(f"Invalid BERRYMQ setting: {attr!r}")
        try:
            value = self._read(attr, self.user_settings.get(attr, self.defaults[attr]))
        except ImproperlyConfigured as exc:
            if not self._lenient:
                raise
            value = self._read(attr, self.defaults[attr])
            logger.error(
                "%s Using the default, %r, until it is fixed (manage.py check lists every "
                "problem).",
                exc,
                self.defaults[attr],
            )
        setattr(self, attr, value)
        self._cached.add(attr)
        return value

    def use_defaults(self, *attrs: str) -> None:
        """Read each of attrs as its default until ``reload()`` (a value start-up gave up on)."""
        for attr in attrs:
            setattr(self, attr, self._read(attr, self.defaults[attr]))
            self._cached.add(attr)

    @staticmethod
    def _read(attr: str, value: Any) -> Any:
        validate(attr, value)
        return perform_import(value, attr) if attr in IMPORT_STRINGS else value

    def reload(self) -> None:
        """Forget every cached value so the next read sees the current settings."""
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()


berrymq_settings = BerryMQSettings()


def group_policy(conf: BerryMQSettings | None = None) -> GroupPolicy:
    """Return the GROUP_* settings (of ``berrymq_settings`` by default) as a GroupPolicy."""
    conf = berrymq_settings if conf is None else conf
    return GroupPolicy(
        claim_seconds=float(conf.GROUP_CLAIM_SECONDS),
        max_attempts=conf.GROUP_MAX_ATTEMPTS,
        maxlen=conf.GROUP_MAXLEN,
        dead_letters=conf.GROUP_DEAD_LETTERS,
    )


def reload_berrymq_settings(*, setting: str, **kwargs: Any) -> None:
    """Drop the cache when BERRYMQ changes (``override_settings`` sends this)."""
    if setting == "BERRYMQ":
        berrymq_settings.reload()


setting_changed.connect(reload_berrymq_settings, dispatch_uid="berrymq_django.conf.reload")
