"""JSON-RPC state in Redis: connections with their queues, and the uid dedup window.

Any worker sharing the Redis URL and prefix serves any token. Every key
expires: a connection with its ttl of inactivity (pushed further on each
use), a uid with its window. These calls answer requests, so a Redis that
cannot be reached is an error the endpoint reports (RedisUnavailable),
except in accept_uid(s), which accept rather than lose a message.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import orjson
from redis.exceptions import RedisError

from ...core.identifier import parse_identifier
from ...rpc.connections import Connection
from .shared import RedisListQueue
from .wire import milliseconds, route_member

if TYPE_CHECKING:
    from .client import SharedClient
    from .wire import Keys

__all__ = ["RedisConnectionState"]

logger = logging.getLogger("berrymq")

_CONNECTION_FIELDS = frozenset(f.name for f in dataclasses.fields(Connection))

# Return a connection's JSON and push its expiry ttl further (key, listing,
# route and list), or nil when it expired.
#
# KEYS[1] connection hash, KEYS[2] conns, KEYS[3] routes
# ARGV[1] now (epoch seconds), ARGV[2] token, ARGV[3] key prefix with ":"
TOUCH_CONNECTION = r"""
local v = redis.call('HMGET', KEYS[1], 'data', 'member', 'ttl', 'list')
if not v[1] then return false end
local ttl = tonumber(v[3])
local expires = tonumber(ARGV[1]) + ttl / 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], expires, ARGV[2])
if v[2] ~= '' then
  redis.call('ZADD', KEYS[3], expires, v[2])
  redis.call('PEXPIRE', ARGV[3] .. v[4], ttl)
  redis.call('PEXPIRE', ARGV[3] .. v[4] .. ':dropped', ttl)
end
return v[1]
"""

# Forget a connection, its route and its list; return 1 if it existed.
#
# KEYS[1] connection hash, KEYS[2] conns, KEYS[3] routes
# ARGV[1] token, ARGV[2] key prefix with ":"
CLOSE_CONNECTION = r"""
local v = redis.call('HMGET', KEYS[1], 'member', 'list')
redis.call('ZREM', KEYS[2], ARGV[1])
if not v[1] then return 0 end
if v[1] ~= '' then
  redis.call('ZREM', KEYS[3], v[1])
  redis.call('DEL', ARGV[2] .. v[2], ARGV[2] .. v[2] .. ':dropped')
end
redis.call('DEL', KEYS[1])
return 1
"""


class RedisConnectionState:
    """Implement ``rpc.connections.ConnectionState`` in Redis, for every process sharing it."""

    #: Other processes share this state: any of them serves any token.
    shared = True

    def __init__(self, client: SharedClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def accept_uid(self, uid: str, window: float) -> bool:
        """Record uid for window seconds; when Redis is unreachable, accept (and log)."""
        return self.accept_uids([uid], window)[uid]

    def accept_uids(self, uids: list[str], window: float) -> dict[str, bool]:
        """Record uids in one round trip; map each to whether it is new (the first of a repeat)."""
        fresh = dict.fromkeys(uids, True)
        if window <= 0 or not fresh:
            return fresh
        ttl_ms = milliseconds(window)
        try:
            pipe = self.client.get().pipeline(transaction=False)
            for uid in fresh:
                pipe.set(self.keys.uid(uid), b"1", nx=True, px=ttl_ms)
            answers = pipe.execute()
        except RedisError as exc:
            self.client.note_error(exc)
            logger.warning(
                "berryMQ could not check %d uid(s) against Redis (%s); accepting them.",
                len(fresh),
                exc,
            )
            return fresh
        return {uid: bool(new) for uid, new in zip(fresh, answers, strict=True)}

    def forget_uids(self, uids: list[str]) -> None:
        """Delete uids' keys, so the retry of a call that failed after accepting them counts."""
        if not uids:
            return
        try:
            self.client.get().delete(*(self.keys.uid(uid) for uid in uids))
        except RedisError as exc:
            self.client.note_error(exc)
            logger.warning(
                "berryMQ could not forget %d uid(s) of a failed call (%s); "
                "its retry will be answered as duplicates.",
                len(uids),
                exc,
            )

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
        pipe = self.client.get().pipeline(transaction=True)
        pipe.hset(key, mapping={"data": data, "member": member, "ttl": ttl_ms, "list": list_suffix})
        pipe.pexpire(key, ttl_ms)
        pipe.zadd(self.keys.conns, {connection.token: connection.expires_at})
        pipe.zremrangebyscore(self.keys.conns, "-inf", now)
        if member:
            list_key = self.keys.base + list_suffix
            pipe.delete(list_key, list_key + ":dropped")
            pipe.zadd(self.keys.routes, {member: connection.expires_at})
            pipe.zremrangebyscore(self.keys.routes, "-inf", now)
        self.client.answer(pipe.execute)

    def get_connection(self, token: str) -> Connection | None:
        keys = self.keys
        data = self.client.answer(
            self.client.script(TOUCH_CONNECTION),
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
        existed = self.client.answer(
            self.client.script(CLOSE_CONNECTION),
            keys=[keys.connection(token), keys.conns, keys.routes],
            args=[token, keys.base],
        )
        return bool(existed)

    def connection_queue(self, connection: Connection) -> RedisListQueue:
        if connection.style != "queue":
            raise LookupError(f"No queue for connection {connection.token[:8]}...")
        key = self.keys.base + self.keys.connection_suffix(connection.token)
        return RedisListQueue(self.client, key, connection.maxsize)

    def connections(self) -> list[Connection]:
        keys = self.keys
        pipe = self.client.get().pipeline(transaction=False)
        pipe.zremrangebyscore(keys.conns, "-inf", time.time())
        pipe.zrange(keys.conns, 0, -1, withscores=True)
        _, listed = self.client.answer(pipe.execute)
        if not listed:
            return []
        pipe = self.client.get().pipeline(transaction=False)
        for token, _ in listed:
            pipe.hget(keys.connection(token.decode()), "data")
        found = []
        for (_, expires_at), data in zip(listed, self.client.answer(pipe.execute), strict=True):
            if data is not None:
                connection = _connection(data)
                connection.expires_at = expires_at
                found.append(connection)
        return found

    def close(self) -> None:
        """Nothing to release: connections live in Redis, and the backend closes the client."""


def _connection(data: bytes) -> Connection:
    """Rebuild a stored Connection; fields added or removed since it was stored are fine."""
    stored = orjson.loads(data)
    return Connection(**{k: v for k, v in stored.items() if k in _CONNECTION_FIELDS})
