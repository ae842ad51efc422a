"""JSON-RPC state in Redis: the uid dedup window and connections with their queues.

Any worker sharing the Redis URL and prefix serves any token. Every key
expires: a connection with its ttl of inactivity (pushed further on each
use), a uid with its window. These calls answer requests, so a Redis that
cannot be reached is an error the endpoint reports (RedisUnavailable),
except in accept_uid, which accepts rather than lose a message.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError

from ..core.exceptions import BerryMQError
from ..core.identifier import parse_identifier
from .base import Connection
from .redis_options import redacted
from .redis_queues import RedisListQueue
from .redis_wire import CLOSE_CONNECTION, TOUCH_CONNECTION, milliseconds, route_member

if TYPE_CHECKING:
    import redis

    from .redis_wire import Keys

__all__ = ["RedisConnectionState", "RedisUnavailable"]

logger = logging.getLogger("berrymq")

_CONNECTION_FIELDS = frozenset(f.name for f in dataclasses.fields(Connection))


class RedisUnavailable(BerryMQError):
    """Redis could not be reached for an operation that needs an answer (JSON-RPC state)."""


class RedisConnectionState:
    """The JSON-RPC half of the backend contract, mixed into RedisBackend."""

    # Provided by RedisBackend.
    keys: Keys
    url: str

    def client(self) -> redis.Redis:
        raise NotImplementedError

    def note_error(self, exc: BaseException) -> None:
        raise NotImplementedError

    def _script(self, source: str) -> Any:
        raise NotImplementedError

    # -- the contract ---------------------------------------------------------------

    def accept_uid(self, uid: str, window: float) -> bool:
        """Record uid for window seconds; when Redis is unreachable, accept (and log)."""
        if window <= 0:
            return True
        key = self.keys.uid(uid)
        try:
            return bool(self.client().set(key, b"1", nx=True, px=milliseconds(window)))
        except RedisError as exc:
            self.note_error(exc)
            logger.warning(
                "berryMQ could not check uid %r against Redis (%s); accepting it.", uid, exc
            )
            return True

    def open_connection(self, connection: Connection) -> None:
        connection.touch()
        ttl_ms = milliseconds(connection.ttl)
        member = list_suffix = ""
        if connection.style == "queue":
            if connection.identifier is None:
                raise ValueError("A queue connection needs an identifier.")
            list_suffix = self.keys.connection_suffix(connection.token)
            identifier = parse_identifier(connection.identifier)
            member = route_member(list_suffix, identifier, connection.maxsize, ttl_ms, "-")
        key = self.keys.connection(connection.token)
        data = orjson.dumps(dataclasses.asdict(connection))
        now = time.time()
        pipe = self.client().pipeline(transaction=True)
        pipe.hset(key, mapping={"data": data, "member": member, "ttl": ttl_ms, "list": list_suffix})
        pipe.pexpire(key, ttl_ms)
        pipe.zadd(self.keys.conns, {connection.token: connection.expires_at})
        pipe.zremrangebyscore(self.keys.conns, "-inf", now)
        if member:
            list_key = self.keys.base + list_suffix
            pipe.delete(list_key, list_key + ":dropped")
            pipe.zadd(self.keys.routes, {member: connection.expires_at})
            pipe.zremrangebyscore(self.keys.routes, "-inf", now)
        self._answer(pipe.execute)

    def get_connection(self, token: str) -> Connection | None:
        keys = self.keys
        data = self._answer(
            self._script(TOUCH_CONNECTION),
            keys=[keys.connection(token), keys.conns, keys.routes],
            args=[time.time(), token, keys.base],
        )
        if data is None:
            return None
        connection = _connection(data)
        connection.touch()
        return connection

    def close_connection(self, token: str) -> bool:
        keys = self.keys
        existed = self._answer(
            self._script(CLOSE_CONNECTION),
            keys=[keys.connection(token), keys.conns, keys.routes],
            args=[token, keys.base],
        )
        return bool(existed)

    def connection_queue(self, connection: Connection) -> RedisListQueue:
        if connection.style != "queue":
            raise LookupError(f"No queue for connection {connection.token[:8]}...")
        key = self.keys.base + self.keys.connection_suffix(connection.token)
        return RedisListQueue(self, key, connection.maxsize)  # type: ignore[arg-type]

    def connections(self) -> list[Connection]:
        keys = self.keys
        pipe = self.client().pipeline(transaction=False)
        pipe.zremrangebyscore(keys.conns, "-inf", time.time())
        pipe.zrange(keys.conns, 0, -1, withscores=True)
        _, listed = self._answer(pipe.execute)
        if not listed:
            return []
        pipe = self.client().pipeline(transaction=False)
        for token, _ in listed:
            pipe.hget(keys.connection(token.decode()), "data")
        found = []
        for (_, expires_at), data in zip(listed, self._answer(pipe.execute), strict=True):
            if data is not None:
                connection = _connection(data)
                connection.expires_at = expires_at
                found.append(connection)
        return found

    def _answer(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a request-path Redis call; turn a failure into RedisUnavailable."""
        try:
            return call(*args, **kwargs)
        except RedisError as exc:
            self.note_error(exc)
            raise RedisUnavailable(
                f"berryMQ could not reach Redis at {redacted(self.url)}: {exc}"
            ) from exc


def _connection(data: bytes) -> Connection:
    """Rebuild a stored Connection; fields added or removed since it was stored are fine."""
    stored = orjson.loads(data)
    return Connection(**{k: v for k, v in stored.items() if k in _CONNECTION_FIELDS})
