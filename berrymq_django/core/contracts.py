"""What the core needs from the world around it, as small protocols.

The core never imports a backend, the rpc package or Django: it states what
it needs here and is handed an implementation (by ``Dispatcher(backend=...)``,
which the Django app fills from ``BERRYMQ["BACKEND"]``).

    Backend = Transport + SharedStores     (what a Dispatcher is given)
    GroupTransport                         (optional: runs follower groups across processes)
    Inbox                                  (what a Transport hands messages to)
    Relay                                  (what carries messages to peer sites)
    Forwarder                              (optional: takes over publish + relays)
    BatchRelay                             (optional: a Relay that takes them in batches)
    Store                                  (the buffer behind a pull Queue)

``LocalBackend`` (core/local.py) implements Backend for one process and is
the dispatcher's default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .identifier import Identifier
    from .message import Message

__all__ = [
    "Backend",
    "BatchRelay",
    "Forwarder",
    "GroupTransport",
    "Inbox",
    "Relay",
    "SharedStores",
    "Store",
    "Transport",
]


class Store(Protocol):
    """The buffer behind a pull Queue (``core.store.QueueStore`` or one in Redis)."""

    @property
    def maxsize(self) -> int:
        """The bound (0: none); a full store drops its oldest message."""
        ...

    @property
    def closed(self) -> bool:
        """True once closed: waiting consumers stop."""
        ...

    @property
    def dropped(self) -> int:
        """Messages dropped because the store was full (oldest first)."""
        ...

    def put(self, message: Message) -> None: ...

    def get(
        self, block: bool = True, timeout: float | None = None, consumer: Any = None
    ) -> Message: ...

    def get_nowait(self) -> Message: ...

    async def aget(self, timeout: float | None = None, consumer: Any = None) -> Message: ...

    def qsize(self) -> int: ...

    def full(self) -> bool: ...

    def close(self) -> None: ...

    def wake_all(self) -> None: ...


class Inbox(Protocol):
    """Where a transport hands the messages it brings in from other processes."""

    def receive(self, message: Message) -> None:
        """Deliver to this process's followers only; never hand it back to the transport."""
        ...

    def receive_group(self, group: str, message: Message) -> int:
        """Run this process's members of group on message; see GroupTransport."""
        ...

    def wants(self, identifier: str) -> bool:
        """Whether receive() of a message of identifier would reach anything here.

        A transport may skip decoding what nobody here follows.
        """
        ...


class Relay(Protocol):
    """Something that carries non-local messages onward, such as a peer's link."""

    def relay(self, message: Message) -> None: ...


class Forwarder(Protocol):
    """Takes over where non-local messages go: the backend and the relays, in its own way.

    Installed with ``Dispatcher.set_forwarder``; ``forward`` is called once
    per non-local message leaving the process, in the sender's thread,
    after this process's followers had it. What it raises reaches the sender.
    """

    def forward(self, message: Message) -> None: ...


@runtime_checkable
class BatchRelay(Relay, Protocol):
    """A Relay that also takes many messages in one call (``Dispatcher.send_many``)."""

    def relay_many(self, messages: list[Message]) -> None:
        """Carry messages onward as relay() would each, in their order."""
        ...


class Transport(Protocol):
    """Carries non-local messages to the other processes that share it.

    ``forwards`` is read once per route: a transport that carries nothing
    (one process) says False and ``publish`` is never called, so it costs
    nothing on the hot path. ``publish`` must not block on I/O.
    """

    forwards: bool

    def bind(self, inbox: Inbox) -> None:
        """Start handing messages from other processes to ``inbox.receive``."""
        ...

    def publish(self, message: Message) -> None: ...

    def close(self) -> None:
        """Flush within a bound, stop threads, release connections; idempotent."""
        ...

    def status(self) -> dict[str, Any]:
        """Report health and counters (JSON-serialisable) for ``status`` and checks."""
        ...


class SharedStores(Protocol):
    """Where the store behind ``Queue(identifier, shared=True)`` lives."""

    def shared_store(self, identifier: Identifier, maxsize: int) -> Store:
        """Return the store every shared Queue of identifier in every process takes from."""
        ...


class GroupTransport(Transport, Protocol):
    """A transport that hands each grouped message to one process of the deployment.

    A transport with ``distributes_groups = True`` takes over grouped
    followers: routes leave them out, the dispatcher tells it which groups
    this process has members in, and for each message matching a group it
    calls ``inbox.receive_group(group, message)`` in exactly one process
    (retrying on ``FollowerFailed``, then keeping it as a dead letter).
    Without the capability, grouped followers run like any other.
    """

    distributes_groups: bool

    def join_group(self, group: str, pattern: Identifier) -> None:
        """This process has a member of group following pattern (called outside locks)."""
        ...

    def leave_group(self, group: str, pattern: Identifier) -> None:
        """The last member of group following pattern in this process is gone."""
        ...


class Backend(Transport, SharedStores, Protocol):
    """What a Dispatcher is built with: a transport and a home for shared queues."""
