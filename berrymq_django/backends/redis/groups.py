"""Follower groups in Redis: this process's memberships, their routes and streams.

A process with members of group G following pattern P is told so by the
dispatcher (``join_group``). From then on it has a route in ``P:groups``
(``wire.group_member``), renewed by the sender like a shared queue's and
outliving the process by SHARED_LEASE whatever ends it, and it is one
consumer (named by its token) of the stream ``P:g:<G>:<P>``, which the
publishing script fills whoever sends: a sender need not have the follower.
The group reader (``group_reader``) takes the messages from there.

Joining registers the route and the stream's consumer group at once when
Redis answers, so that a message sent from here right after joining reaches
the group; otherwise the sender registers them when it (re)connects, before
it sends anything. Every renewal creates the consumer groups again when
missing (after Redis restarted empty). Leaving, when the last member of a
(group, pattern) here is unregistered, withdraws this process's route at
once; what its stream holds stays for the other members, or for the next
one to come.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from redis.exceptions import RedisError, ResponseError

from .wire import CONSUMER_GROUP, group_member

if TYPE_CHECKING:
    import redis

    from ...core.identifier import Identifier
    from .client import SharedClient
    from .options import RedisOptions
    from .wire import Keys

__all__ = ["GroupRoutes", "GroupStream"]

# Longest pause between renewals of this process's routes (seconds).
HEARTBEAT = 5.0
# Routes remembered to put back after Redis restarted empty.
MAX_KNOWN_ROUTES = 10_000


class GroupStream(NamedTuple):
    """One stream this process reads: group's messages for members following pattern."""

    group: str
    pattern: Identifier
    key: str


class GroupRoutes:
    """This process's follower groups: what it joined, their routes' lease, their streams.

    Thread safety: ``_lock`` guards ``_joined`` and ``_known``; ``changed``
    is told (outside the lock) after every join and leave.
    """

    def __init__(self, client: SharedClient, keys: Keys, options: RedisOptions) -> None:
        self.client = client
        self.keys = keys
        self.lease = options.shared_lease
        #: Seconds between renewals: several per lease.
        self.heartbeat = min(HEARTBEAT, self.lease / 3)
        #: Called after a join or a leave (the sender renews, the reader wakes).
        self.changed: Callable[[], None] = _nothing
        self._lock = threading.Lock()
        self._joined: dict[tuple[str, str], GroupStream] = {}
        # Every process's group routes as last seen (member -> lease end): put back
        # by whichever process reaches a restarted, empty Redis first.
        self._known: dict[bytes, float] = {}

    # -- membership -------------------------------------------------------------

    def join(self, group: str, pattern: Identifier) -> None:
        """Read group's stream for pattern from now on; register its route now if possible."""
        stream = GroupStream(group, pattern, self.keys.group_stream(group, pattern))
        with self._lock:
            self._joined[(group, pattern.text)] = stream
        if not self.client.closed and not self.client.down:
            try:
                self._register(self.client.get(), [stream], time.time())
            except RedisError as exc:
                self.client.note_error(exc)  # the sender registers it on reconnecting
        self.changed()

    def leave(self, group: str, pattern: Identifier) -> None:
        """Stop reading group's stream for pattern; withdraw this process's route now."""
        with self._lock:
            stream = self._joined.pop((group, pattern.text), None)
        if stream is None:
            return
        if not self.client.closed and not self.client.down:
            try:
                self.client.get().zrem(self.keys.groups, self.member(stream))
            except RedisError as exc:
                self.client.note_error(exc)  # the route lapses after the lease
        self.changed()

    def streams(self) -> list[GroupStream]:
        """Return the streams this process reads, in joining order."""
        with self._lock:
            return list(self._joined.values())

    def groups(self) -> dict[str, list[str]]:
        """Return each group this process has members of, with their patterns."""
        found: dict[str, list[str]] = {}
        for stream in self.streams():
            found.setdefault(stream.group, []).append(stream.pattern.text)
        return found

    def member(self, stream: GroupStream) -> str:
        """Return this process's P:groups entry for stream."""
        return group_member(stream.group, stream.pattern, self.client.token)

    # -- the sender's Routes -----------------------------------------------------

    def renew(self, client: redis.Redis) -> None:
        """Extend this process's routes by a lease, drop lapsed ones, note everyone's."""
        now = time.time()
        self._register(client, self.streams(), now)
        pipe = client.pipeline(transaction=False)
        pipe.zremrangebyscore(self.keys.groups, "-inf", now)
        pipe.zrangebyscore(
            self.keys.groups, now, "+inf", start=0, num=MAX_KNOWN_ROUTES, withscores=True
        )
        found = pipe.execute()[-1]
        with self._lock:
            self._known = dict(found)

    def restore(self, client: redis.Redis) -> None:
        """Put back the routes known before Redis restarted; their owners renew them or not."""
        now = time.time()
        with self._lock:
            known = {m: end for m, end in self._known.items() if end > now}
        if known:
            client.zadd(self.keys.groups, known, nx=True)

    def create_consumer_groups(self, client: redis.Redis, streams: list[GroupStream]) -> None:
        """Make each stream's consumer group if it is missing (a new stream, a new Redis)."""
        if not streams:
            return
        pipe = client.pipeline(transaction=False)
        for stream in streams:
            # From the start ("0"): whatever reached the stream before the group existed
            # (after Redis restarted) is for the members too.
            pipe.xgroup_create(stream.key, CONSUMER_GROUP, id="0", mkstream=True)
        for answer in pipe.execute(raise_on_error=False):
            if isinstance(answer, ResponseError) and "BUSYGROUP" not in str(answer):
                raise answer
            if isinstance(answer, Exception) and not isinstance(answer, ResponseError):
                raise answer

    def _register(self, client: redis.Redis, streams: list[GroupStream], now: float) -> None:
        """Create the consumer groups, then the routes (a routed message finds its group)."""
        if not streams:
            return
        self.create_consumer_groups(client, streams)
        client.zadd(self.keys.groups, {self.member(s): now + self.lease for s in streams})

    def after_fork(self) -> None:
        """In a forked child (with its new token): the memberships get routes of their own."""
        self._lock = threading.Lock()


def _nothing() -> None:
    pass
