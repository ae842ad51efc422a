"""The backend contract: where non-local messages, shared queues and RPC state live.

A backend answers three questions for a dispatcher:

* where non-local messages go beyond this process (``publish``), and how
  messages from elsewhere come in (the backend calls ``dispatcher.deliver``);
* where the store behind ``Queue(..., shared=True)`` lives (``shared_store``);
* where the JSON-RPC endpoint keeps its connections (tokens, their pull
  queues) and the window of message uids already accepted, so that any
  worker that shares the backend can serve any token and a retried message
  is delivered once.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..core.identifier import Identifier
    from ..core.message import Message

__all__ = ["BaseBackend", "Connection", "ConnectionQueue", "Style", "new_token"]

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


class BaseBackend:
    """Subclass and override to carry messages and RPC state across processes.

    A dispatcher hands its backend every non-local message it sends, but
    only when ``forwards`` is true, so an in-process backend costs nothing
    on the hot path.
    """

    #: Whether publish() should be called for non-local messages.
    forwards: bool = False

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.dispatcher: Dispatcher | None = None
        # The JSON-RPC session state (rpc.connections.ConnectionState) this backend keeps.
        self.connection_state = self

    @property
    def shared(self) -> bool:
        """Whether other processes share the JSON-RPC session state (as they share messages)."""
        return self.forwards

    def bind(self, dispatcher: Dispatcher) -> None:
        """Attach to the dispatcher whose messages this backend carries."""
        self.dispatcher = dispatcher

    def close(self) -> None:
        """Release connections and threads; called when the backend is replaced."""

    def status(self) -> dict[str, Any]:
        """Report health and counters for the status RPC method and checks."""
        return {"connected": True}

    # -- messages and shared queues -----------------------------------------

    def publish(self, message: Message) -> None:
        """Carry a non-local message to the other processes."""
        raise NotImplementedError

    def shared_store(self, identifier: Identifier, maxsize: int) -> Any:
        """Return the store behind shared Queues of identifier (a QueueStore or alike)."""
        raise NotImplementedError

    # -- JSON-RPC state -----------------------------------------------------

    def accept_uid(self, uid: str, window: float) -> bool:
        """Record uid; return False when it was already accepted in the last window seconds."""
        raise NotImplementedError

    def accept_uids(self, uids: list[str], window: float) -> dict[str, bool]:
        """Record many uids at once; map each to whether it is new (see accept_uid).

        Override where one round does better than a call per uid.
        """
        return {uid: self.accept_uid(uid, window) for uid in uids}

    def open_connection(self, connection: Connection) -> None:
        """Store a new connection (and, for style "queue", start collecting its messages)."""
        raise NotImplementedError

    def get_connection(self, token: str) -> Connection | None:
        """Return token's live connection, extending its expiry; None if unknown or expired."""
        raise NotImplementedError

    def close_connection(self, token: str) -> bool:
        """Forget a connection and its queue; return whether it existed."""
        raise NotImplementedError

    def connection_queue(self, connection: Connection) -> ConnectionQueue:
        """Return the queue a "queue" connection pulls from."""
        raise NotImplementedError

    def connections(self) -> list[Connection]:
        """Return every live connection (for forwarding to interconnected peers and status)."""
        raise NotImplementedError
