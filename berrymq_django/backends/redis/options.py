"""The Redis backend's options (BERRYMQ["BACKEND_OPTIONS"]), checked once when it is built.

An unknown option is a TypeError (Django's configure step reports it as
ImproperlyConfigured), a bad value an ImproperlyConfiguredBackend; both name it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from redis.connection import parse_url

from ...core.exceptions import ImproperlyConfiguredBackend
from ...rpc.urls import shown_url

__all__ = ["DEFAULT_OPTIONS", "RedisOptions", "read_options"]

DEFAULT_OPTIONS: dict[str, Any] = {
    # Where: every process with the same URL and PREFIX shares one bus.
    "URL": "redis://127.0.0.1:6379/0",
    "PREFIX": "berrymq",
    # Sending: messages held for other processes while Redis is unreachable
    # (the oldest is dropped beyond this), and messages per stream entry.
    "BUFFER_SIZE": 100_000,
    "BATCH_SIZE": 500,
    # Stream entries Redis keeps (about): how far a receiver may fall behind.
    "STREAM_MAXLEN": 1_000,
    # Seconds: socket reads and writes, connecting.
    "SOCKET_TIMEOUT": 2.0,
    "CONNECT_TIMEOUT": 1.0,
    # Seconds a shared queue's messages outlive its last consumer.
    "SHARED_TTL": 86_400.0,
    # Seconds a shared queue keeps collecting messages for a process whose consumers
    # stopped (closed, exited or crashed), so that they find them when they come back.
    "SHARED_LEASE": 30.0,
}

MAX_BATCH_SIZE = 5_000  # the publishing script's unpack() limit, with margin
MIN_SHARED_LEASE = 0.5  # seconds


@dataclasses.dataclass(frozen=True)
class RedisOptions:
    """The checked options."""

    url: str
    prefix: str
    buffer_size: int
    batch_size: int
    stream_maxlen: int
    socket_timeout: float
    connect_timeout: float
    shared_ttl: float
    shared_lease: float


def read_options(options: dict[str, Any]) -> RedisOptions:
    """Return options laid over DEFAULT_OPTIONS, checked; raise naming the bad one."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise TypeError(
            f"RedisBackend got unknown BACKEND_OPTIONS {', '.join(map(repr, unknown))}; "
            f"valid options are {', '.join(DEFAULT_OPTIONS)}."
        )
    conf = {**DEFAULT_OPTIONS, **options}
    return RedisOptions(
        url=_url(conf["URL"]),
        prefix=_prefix(conf["PREFIX"]),
        buffer_size=_count(conf, "BUFFER_SIZE"),
        batch_size=_count(conf, "BATCH_SIZE", maximum=MAX_BATCH_SIZE),
        stream_maxlen=_count(conf, "STREAM_MAXLEN"),
        socket_timeout=_seconds(conf, "SOCKET_TIMEOUT"),
        connect_timeout=_seconds(conf, "CONNECT_TIMEOUT"),
        shared_ttl=_seconds(conf, "SHARED_TTL"),
        # Renewed several times per lease: a shorter one would keep the sender busy.
        shared_lease=_seconds(conf, "SHARED_LEASE", minimum=MIN_SHARED_LEASE),
    )


def _error(key: str, value: Any, expected: str) -> ImproperlyConfiguredBackend:
    return ImproperlyConfiguredBackend(
        f"BERRYMQ 'BACKEND_OPTIONS' {key!r} for RedisBackend must be {expected}, not {value!r}."
    )


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _error("URL", value, "a Redis URL like 'redis://127.0.0.1:6379/0'")
    try:
        parse_url(value)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    except ValueError as exc:
        raise ImproperlyConfiguredBackend(
            f"BERRYMQ 'BACKEND_OPTIONS' 'URL' for RedisBackend is not a Redis URL "
            f"({shown_url(value)!r}): {exc}"
        ) from exc
    return value


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise _error("PREFIX", value, "a non-empty string without whitespace")
    return value


def _count(conf: dict[str, Any], key: str, maximum: int | None = None) -> int:
    value = conf[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _error(key, value, "a positive int")
    if maximum is not None and value > maximum:
        raise _error(key, value, f"an int of at most {maximum}")
    return value


def _seconds(conf: dict[str, Any], key: str, minimum: float = 0.0) -> float:
    value = conf[key]
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise _error(key, value, "a positive number of seconds")
    if value < minimum:
        raise _error(key, value, f"at least {minimum} seconds")
    return float(value)
