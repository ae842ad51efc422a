"""The JSON-RPC layer's session state: connections, their queues, the uid window.

The rpc package owns this contract; backends provide the storage
(``backends.memory_state`` in one process, ``backends.redis.state`` across
processes), and the Django glue hands the configured one to the endpoint
and to the peer links. Nothing in rpc reaches it through the dispatcher.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..core.message import Message

__all__ = [
    "AwaitableQueue",
    "Connection",
    "ConnectionQueue",
    "ConnectionState",
    "Style",
    "new_token",
]

Style = Literal["oneway", "interconnect", "queue"]


def new_token() -> str:
    """Return an unguessable connection token (256 bits from ``secrets``)."""
    return secrets.token_urlsafe(32)


@dataclasses.dataclass
class Connection:
    """A remote node's connection to this site, made by connect_oneway/interconnect/via_queue.

    ``ttl`` is seconds of inactivity after which the token expires;
    ``principal`` is who created it (only they may use it); ``identifier`` is
    the pattern of a queue connection (holding at most ``maxsize`` messages,
    oldest dropped first); ``addr`` the endpoint URL of an interconnected peer
    and ``remote_token`` the token it gave us for calling back.
    """

    token: str
    principal: str
    style: Style
    ttl: float
    identifier: str | None = None
    addr: str | None = None
    remote_token: str | None = None
    maxsize: int = 0
    expires_at: float = 0.0

    def touch(self, now: float | None = None) -> None:
        """Push the expiry ttl seconds past now."""
        self.expires_at = (time.time() if now is None else now) + self.ttl

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


class ConnectionQueue(Protocol):
    """The pull side of a queue connection, as the RPC methods use it."""

    def get(self, block: bool = True, timeout: float | None = None) -> Message: ...

    def get_nowait(self) -> Message: ...

    def qsize(self) -> int: ...


@runtime_checkable
class AwaitableQueue(ConnectionQueue, Protocol):
    """A connection queue an event loop can wait on without a thread (in-process stores)."""

    async def aget(self, timeout: float | None = None) -> Message:
        """Remove and return the oldest message, waiting up to timeout seconds; Empty if none."""
        ...


class ConnectionState(Protocol):
    """Where the endpoint keeps connections and the window of accepted uids.

    Any process sharing the state serves any token, and a retried message is
    accepted once. ``shared`` says whether other processes share it (then a
    peer's interconnect may reach another process, which the peer registry
    polls for).
    """

    shared: bool

    def accept_uid(self, uid: str, window: float) -> bool:
        """Record uid; return False when it was already accepted in the last window seconds."""
        ...

    def accept_uids(self, uids: list[str], window: float) -> dict[str, bool]:
        """Record many uids at once; map each to whether it is new (see accept_uid)."""
        ...

    def forget_uids(self, uids: list[str]) -> None:
        """Drop uids accepted by a call that then failed, so the sender's retry is accepted.

        Best effort: a state that cannot be reached logs it, and the retry is then
        answered as duplicates.
        """
        ...

    def open_connection(self, connection: Connection) -> None:
        """Store a new connection (and, for style "queue", start collecting its messages)."""
        ...

    def get_connection(self, token: str) -> Connection | None:
        """Return token's live connection, extending its expiry; None if unknown or expired."""
        ...

    def close_connection(self, token: str) -> bool:
        """Forget a connection and its queue; return whether it existed."""
        ...

    def connection_queue(self, connection: Connection) -> ConnectionQueue:
        """Return the queue a "queue" connection pulls from; LookupError if it has none."""
        ...

    def connections(self) -> list[Connection]:
        """Return every live connection (for calling back interconnected peers and status)."""
        ...

    def close(self) -> None:
        """Close every connection's queue; called when the backend is replaced."""
        ...
