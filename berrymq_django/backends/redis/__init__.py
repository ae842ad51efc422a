"""The Redis backend: one message bus for every process sharing a Redis URL and prefix.

    BERRYMQ = {
        "BACKEND": "berrymq_django.backends.redis.RedisBackend",
        "BACKEND_OPTIONS": {"URL": "redis://127.0.0.1:6379/0", "PREFIX": "berrymq"},
    }

RedisBackend composes one part per concern, each in its own module::

    RedisBackend                      a site backend (backends.base.SiteBackend)
    ├── options     RedisOptions      BACKEND_OPTIONS, checked once
    ├── client      SharedClient      this process's client, token, errors, closed state
    ├── transport   RedisTransport    publish/receive: sender and receiver threads
    │                                 over the stream (sender, receiver), and the
    │                                 group reader (group_reader, group_ledger,
    │                                 group_scripts)
    ├── shared      SharedQueues      shared Queues in Redis lists, their routes' lease
    ├── groups      GroupRoutes       follower groups: memberships, routes, streams
    ├── dead_letters RedisDeadLetters grouped messages that failed their last attempt
    └── connection_state              JSON-RPC connections and uids (state)
    wire: key names, the wire format and the Lua scripts every part agrees on
    lua: Lua functions those scripts share (matching identifiers, trimming)

Follower groups (``register_function(..., group="G")``): the backend
distributes them (``distributes_groups``), so each grouped message is run by
one process with a member of its group, acknowledged after the follower
returns, tried again up to GROUP_MAX_ATTEMPTS times and kept as a dead
letter after that (see group_reader). The GROUP_* settings arrive through
``configure_groups``.

Processes: nothing connects when the backend is built. Its threads start
when it is bound to a dispatcher (at Django setup, never at import); the
lifecycle owns them from then on: it stops them at exit (flushing first),
starts them again with the site after a stop, and resets them in a forked
child, which gets a new token, fresh threads and connections and leaves the
parent's alone (it starts them again when the site had started, else on
first use: a publish, a shared queue, ready()). ``close()`` is final: it flushes,
stops the threads and closes every connection, and from then on nothing
reconnects (calls that need Redis raise BackendClosed).
"""

from __future__ import annotations

import threading
from time import monotonic
from typing import TYPE_CHECKING, Any

from ...core.lifecycle import lifecycle
from ...core.store import QueueStore
from ...rpc.urls import shown_url
from ..base import GroupPolicy
from .client import BackendClosed, RedisUnavailable, SharedClient
from .dead_letters import RedisDeadLetters
from .groups import GroupRoutes
from .options import DEFAULT_OPTIONS, read_options
from .shared import RedisSharedStore, SharedQueues
from .state import RedisConnectionState
from .transport import RedisTransport
from .wire import Keys

if TYPE_CHECKING:
    import redis

    from ...core.contracts import Inbox, Store
    from ...core.identifier import Identifier
    from ...core.message import Message

__all__ = ["DEFAULT_OPTIONS", "BackendClosed", "RedisBackend", "RedisUnavailable"]

CLOSE_WAIT = 3.0  # seconds close() gives the threads to flush and stop


class RedisBackend:
    """Carry non-local messages, shared queues and JSON-RPC state through Redis.

    Options (BERRYMQ["BACKEND_OPTIONS"]) are listed in DEFAULT_OPTIONS; an
    unknown one is a TypeError, a bad value ImproperlyConfiguredBackend, each
    naming the option. Nothing connects until the backend is used.
    """

    #: Non-local messages go to publish().
    forwards = True
    #: Grouped followers run in one process per message (join_group, receive_group).
    distributes_groups = True

    def __init__(self, **options: Any) -> None:
        checked = read_options(options)
        self.options = options
        self.url = checked.url
        self.prefix = checked.prefix
        self.keys = Keys(self.prefix)
        self._client = SharedClient(checked)
        self.shared = SharedQueues(self._client, self.keys, checked)
        self.groups = GroupRoutes(self._client, self.keys, checked)
        self.transport = RedisTransport(self._client, self.keys, checked, self.shared, self.groups)
        self.dead_letters = RedisDeadLetters(self._client, self.keys)
        self.connection_state = RedisConnectionState(self._client, self.keys)
        self.group_policy = GroupPolicy()
        self._lock = threading.Lock()  # guards _bound and _closing
        self._bound = False
        self._closing = False
        # Owned by the lifecycle from the start, so that a forked child never uses
        # the parent's client, even one this process only asked for JSON-RPC state.
        lifecycle.add(self)

    def __repr__(self) -> str:
        return f"<RedisBackend {shown_url(self.url)} prefix={self.prefix!r} token={self.token}>"

    @property
    def token(self) -> str:
        """This process's name in Redis (new in a forked child)."""
        return self._client.token

    @property
    def closed(self) -> bool:
        """Whether close() ran."""
        return self._client.closed

    def client(self) -> redis.Redis:
        """Return this process's redis-py client; raise BackendClosed after close()."""
        return self._client.get()

    # -- core.contracts.Transport --------------------------------------------------

    def bind(self, inbox: Inbox) -> None:
        """Hand messages from other processes to inbox, starting the threads now.

        A process with followers must receive whether or not it starts its
        lifecycle (a management command that follows messages does not).
        """
        self.transport.bind(inbox)
        with self._lock:
            self._bound = True
        self.start()

    def publish(self, message: Message) -> None:
        """Queue message for the other processes; never blocks, never raises for Redis."""
        self.transport.publish(message)

    # -- core.contracts.GroupTransport --------------------------------------------

    def join_group(self, group: str, pattern: Identifier) -> None:
        """Take a share of group's messages matching pattern from now on."""
        if not pattern.is_local:  # local messages never leave: members run where sent
            self.groups.join(group, pattern)

    def leave_group(self, group: str, pattern: Identifier) -> None:
        """Stop taking group's messages for pattern; other members take them."""
        self.groups.leave(group, pattern)

    def configure_groups(self, policy: GroupPolicy) -> None:
        """Apply the GROUP_* settings: claim time, attempts and bounds (see GroupPolicy)."""
        self.group_policy = policy
        self.transport.groups.ledger.policy = policy
        self.transport.sender.group_maxlen = policy.maxlen

    def close(self) -> None:
        """Flush briefly, stop the threads, close every connection; final and idempotent.

        Shared-queue routes are left to lapse after SHARED_LEASE, as after a crash.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
        lifecycle.discard(self)
        self.transport.stop(monotonic() + CLOSE_WAIT)
        self._client.close()

    def status(self) -> dict[str, Any]:
        """Return the backend's health: connected, buffered, published, dropped, last_error, ..."""
        return {
            "backend": "redis",
            "url": shown_url(self.url),
            "prefix": self.prefix,
            **self.transport.status(),
        }

    # -- core.contracts.SharedStores -----------------------------------------------

    def shared_store(self, identifier: Identifier, maxsize: int) -> Store:
        """Return a Redis-list store for identifier; a local identifier's stays in memory.

        Raise BackendClosed after close().
        """
        if identifier.is_local:
            return QueueStore(maxsize)  # its messages never leave the process
        store: RedisSharedStore = self.shared.store(identifier, maxsize)
        self.transport.start_on_demand()  # its route must be renewed
        return store

    # -- the lifecycle's Service ---------------------------------------------------

    def start(self) -> None:
        """Start the threads once bound to a dispatcher; idempotent; nothing after close()."""
        if self._bound:
            self.transport.start()

    def stop(self, deadline: float) -> None:
        """Flush until the monotonic deadline, then stop the threads; log what is left."""
        self.transport.stop(deadline)

    def after_fork(self) -> None:
        """In a forked child: a new token; forget the parent's threads, buffer and client."""
        self._lock = threading.Lock()
        self._client.after_fork()
        self.transport.after_fork()
        self.shared.after_fork()
        self.groups.after_fork()

    # -- waiting, for tests and scripts --------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the sender and the receiver both reach Redis right now."""
        return self.transport.connected

    def ready(self, timeout: float = 5.0) -> bool:
        """Start if needed and wait until connected and reading; return whether it is."""
        return self.transport.ready(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every published message reached Redis; return whether all did."""
        return self.transport.flush(timeout)
