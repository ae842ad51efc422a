"""What each BERRYMQ key accepts: one test and one description per key.

conf.py reads the setting and reports a value that fails its test, naming
the key, the value (unless it may hold a secret) and this description.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

from .rpc.urls import url_problem

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_NESTING",
    "MAX_SECONDS",
    "MIN_CLAIM_SECONDS",
    "VALIDATORS",
    "is_name",
]

# The longest any wait or memory may last: a year is beyond any sensible setting,
# and well within what threading's timeouts accept.
MAX_SECONDS = 365 * 24 * 3600
# The shortest GROUP_CLAIM_SECONDS: members look for stuck messages four times per
# claim time, and retry a failure within half of it.
MIN_CLAIM_SECONDS = 0.5
MAX_ATTEMPTS = 100
# The deepest MAX_DEPTH: what the endpoint accepts it must also write back (a get
# answers a message one level deeper than send_message took it), within the JSON
# writer's 254 levels (rpc.protocol.WRITE_DEPTH).
MAX_NESTING = 250


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_limit(value: Any) -> bool:
    return _is_count(value) and value > 0


def _is_seconds(value: Any) -> bool:
    return (
        isinstance(value, Real)
        and not isinstance(value, bool)
        and 0 < float(value) <= MAX_SECONDS  # NaN fails both comparisons
    )


def _is_claim_seconds(value: Any) -> bool:
    return _is_seconds(value) and float(value) >= MIN_CLAIM_SECONDS


def _is_attempts(value: Any) -> bool:
    return _is_limit(value) and value <= MAX_ATTEMPTS


def is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_module_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(item, str) and all(part.isidentifier() for part in item.split("."))
        for item in value
    )


def _is_names(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) and item for item in value)


def _is_import_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        is_name(item) or callable(item) for item in value
    )


def _is_url(value: Any) -> bool:
    return url_problem(value) is None


def _is_api_keys(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        is_name(name) and isinstance(key, str) and bool(key) for name, key in value.items()
    )


# What each key accepts, as (test, description for the error message).
VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "NODE_NAME": (lambda v: v is None or is_name(v), "None or a non-blank string"),
    "BACKEND": (
        lambda v: is_name(v) or isinstance(v, type),
        "an import string or a class",
    ),
    "BACKEND_OPTIONS": (
        lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v),
        "a dict of keyword arguments",
    ),
    "AUTODISCOVER": (_is_module_list, "a list of module names"),
    "RAISE_ERRORS": (lambda v: isinstance(v, bool), "True or False"),
    "MULTIPLICITY": (_is_count, "an int of 0 or more"),
    "FOLLOWER_TIMING": (lambda v: isinstance(v, bool), "True or False"),
    "METRICS_PUBLIC": (lambda v: isinstance(v, bool), "True or False"),
    "MODEL_EVENTS": (_is_names, 'a list of model labels like "shop.Order"'),
    "API_KEYS": (_is_api_keys, "a dict of principal name to key string"),
    "ALLOW_ANONYMOUS": (lambda v: isinstance(v, bool), "True or False"),
    "AUTHENTICATION_CLASSES": (_is_import_list, "a list of import strings or classes"),
    "PERMISSION_CLASSES": (_is_import_list, "a list of import strings or classes"),
    "THROTTLE_CLASSES": (_is_import_list, "a list of import strings or classes"),
    "MAX_BODY_BYTES": (_is_limit, "a positive int"),
    "MAX_BATCH": (_is_limit, "a positive int"),
    "MAX_DEPTH": (
        lambda v: _is_limit(v) and v <= MAX_NESTING,
        f"an int from 1 to {MAX_NESTING} (what is accepted must be written back)",
    ),
    "MAX_IDENTIFIER_LENGTH": (_is_limit, "a positive int"),
    "MAX_MESSAGES_PER_CALL": (_is_limit, "a positive int"),
    "MAX_POLL_SECONDS": (_is_seconds, "a positive number of seconds, at most a year"),
    "MAX_INTERCONNECTS": (_is_limit, "a positive int"),
    "QUEUE_MAXSIZE": (_is_limit, "a positive int"),
    "DEDUP_SECONDS": (_is_seconds, "a positive number of seconds, at most a year"),
    "SELF_URL": (
        lambda v: v is None or _is_url(v),
        "None or an http(s) URL with a host (and a port from 1 to 65535)",
    ),
    "PEERS": (
        lambda v: isinstance(v, Mapping) and all(is_name(name) for name in v),
        "a dict of peer name to options",
    ),
    "GROUP_CLAIM_SECONDS": (
        _is_claim_seconds,
        f"a number of seconds from {MIN_CLAIM_SECONDS} to a year",
    ),
    "GROUP_MAX_ATTEMPTS": (_is_attempts, f"an int from 1 to {MAX_ATTEMPTS}"),
    "GROUP_MAXLEN": (_is_limit, "a positive int"),
    "GROUP_DEAD_LETTERS": (_is_limit, "a positive int"),
    "OUTBOX": (lambda v: isinstance(v, Mapping), "a dict of outbox options"),
}
