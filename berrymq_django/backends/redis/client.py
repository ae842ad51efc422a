"""This process's way to Redis: one shared client, its errors, and the closed state.

Every part of the Redis backend (the sender, the receiver, shared queues,
the JSON-RPC state) runs its commands through the one ``SharedClient`` of
its backend:

* the pooled ``redis.Redis`` is made on first use, never at import or
  construction, and without redis-py's own retries: reconnecting is paced
  by the sender, and a retry would stretch a caller's timeout;
* ``token`` names this process to Redis (its client name, its batches in the
  stream, its shared-queue routes); a forked child gets a new one;
* a failure is recorded by ``note_error`` (``last_error`` in status()), and a
  lost connection is reported to ``on_lost``, so that the sender checks it;
  ``lost()`` and ``found()`` log once when Redis goes away and comes back;
* once closed, nothing reconnects: ``get()`` raises BackendClosed, and a
  command in flight finds its pool closed (every pool made here refuses to
  hand out a connection after close()).

Errors, as callers see them::

    BackendUnavailable         (core.exceptions: the endpoint answers it with HTTP 503)
     └── RedisUnavailable      Redis cannot answer an operation that needs an answer
          └── BackendClosed    the backend was closed (replaced or shut down)

redis-py's RedisError stays inside the package: the threads and the queues
turn it into status, retries and Empty; the JSON-RPC state into RedisUnavailable.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import weakref
from collections.abc import Callable
from typing import Any, NoReturn

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ...core.exceptions import BackendUnavailable
from ...rpc.urls import shown_url
from .options import RedisOptions

__all__ = ["BackendClosed", "RedisUnavailable", "SharedClient"]

logger = logging.getLogger("berrymq")


class RedisUnavailable(BackendUnavailable):
    """Redis could not be reached for an operation that needs an answer (JSON-RPC state)."""


class BackendClosed(RedisUnavailable):
    """The Redis backend was closed; nothing it owns connects again."""


class _ClosablePool(redis.ConnectionPool):
    """A connection pool that hands out nothing once closed, so nothing reconnects."""

    closed = False

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            raise RedisConnectionError("the berryMQ Redis backend is closed")
        return super().get_connection(*args, **kwargs)


class SharedClient:
    """Make, share and close this process's Redis clients.

    Thread safety: ``_lock`` guards ``_client``, ``_pools``, ``_scripts`` and
    ``_closed``; ``get()`` reads ``_client`` once, without it, on the hot path.
    """

    def __init__(self, options: RedisOptions) -> None:
        self.options = options
        self.url = options.url
        self.last_error: str | None = None
        self._down_logged = False
        #: Called (on any thread) when a command found the connection lost.
        self.on_lost: Callable[[], None] = _nothing
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self.token = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        # Every pool made here, the receiver's included: close() closes them all.
        self._pools: weakref.WeakSet[_ClosablePool] = weakref.WeakSet()

    @property
    def closed(self) -> bool:
        """Whether close() ran: from then on every call raises BackendClosed."""
        return self._closed

    @property
    def down(self) -> bool:
        """Whether a thread lost Redis and the sender has not reached it since."""
        return self._down_logged

    def get(self) -> redis.Redis:
        """Return the pooled client shared by every thread; raise BackendClosed once closed."""
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                pool = self._pool_locked(self.options.socket_timeout)
                self._client = redis.Redis(connection_pool=pool)  # connects on first use
            return self._client

    def make(self, socket_timeout: float, **extra: Any) -> redis.Redis:
        """Return a client of its own (for blocking reads); raise BackendClosed once closed."""
        with self._lock:
            pool = self._pool_locked(socket_timeout)
        client = redis.Redis(connection_pool=pool, **extra)
        client.auto_close_connection_pool = True
        return client

    def _pool_locked(self, socket_timeout: float) -> _ClosablePool:
        """Make a pool that close() will close; the caller holds _lock."""
        if self._closed:
            self._refuse()
        pool = _ClosablePool.from_url(
            self.url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=self.options.connect_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=f"berrymq-{self.token}",
        )
        self._pools.add(pool)
        return pool

    def script(self, source: str) -> Any:
        """Return the registered Lua script for source (run with keys=..., args=...)."""
        script = self._scripts.get(source)
        if script is None or self._closed:
            client = self.get()
            with self._lock:
                script = self._scripts.setdefault(source, client.register_script(source))
        return script

    def answer(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a call that needs an answer; turn a Redis failure into RedisUnavailable."""
        try:
            return call(*args, **kwargs)
        except RedisError as exc:
            self.note_error(exc)
            raise RedisUnavailable(
                f"berryMQ could not reach Redis at {shown_url(self.url)}: {exc}"
            ) from exc

    def note_error(self, exc: BaseException) -> None:
        """Record a Redis failure seen by any thread; report a lost connection to on_lost."""
        self.last_error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            self.on_lost()

    def lost(self, exc: BaseException) -> None:
        """Note that a thread lost Redis; say so in the log once, until found() is called."""
        self.note_error(exc)
        if not self._down_logged:
            self._down_logged = True
            logger.warning(
                "berryMQ Redis backend cannot reach Redis at %s (%s); messages for other "
                "processes are buffered (up to %d) until it is back.",
                shown_url(self.url),
                self.last_error,
                self.options.buffer_size,
            )

    def found(self) -> None:
        """Note that the sender reached Redis; say so if it had been lost."""
        if self._down_logged:
            self._down_logged = False
            logger.warning("berryMQ Redis backend reached Redis at %s again.", shown_url(self.url))

    def close(self) -> None:
        """Close every connection made here; from now on nothing connects. Idempotent."""
        with self._lock:
            self._closed = True
            self._client = None
            self._scripts = {}
            pools = list(self._pools)
        for pool in pools:
            pool.closed = True
            with contextlib.suppress(Exception):  # closing broken connections
                pool.disconnect()

    def after_fork(self) -> None:
        """In a forked child: leave the parent's clients alone, take a new token."""
        for pool in list(self._pools):
            _abandon(pool)
        self._reset()

    def _refuse(self) -> NoReturn:
        raise BackendClosed(
            f"berryMQ's Redis backend for {shown_url(self.url)} is closed (replaced by new "
            "settings, or shut down); it does not connect again. Use the current backend."
        )


def _nothing() -> None:
    pass


# Pools a forked child inherited from its parent. They are never used, closed or even
# collected there: redis-py would take pool locks (in disconnect(), in __del__) that one
# of the parent's threads may have held at the fork, and wait for ever.
_inherited: list[redis.ConnectionPool] = []


def _abandon(pool: redis.ConnectionPool) -> None:
    """Keep a parent's pool out of reach in a forked child, closing only our copies of
    its sockets (the parent's connections stay up)."""
    _inherited.append(pool)
    with contextlib.suppress(Exception):  # redis-py internals; at worst the fds stay open
        idle = getattr(pool, "_available_connections", [])
        busy: set[Any] = getattr(pool, "_in_use_connections", set())
        for connection in [*idle, *busy]:
            sock = getattr(connection, "_sock", None)
            if sock is not None:
                sock.close()
