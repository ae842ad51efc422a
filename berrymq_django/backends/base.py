"""The site backend contract: what BERRYMQ["BACKEND"] names, as one small protocol.

A site backend answers three questions, each a contract owned by the layer
that asks it::

    SiteBackend
    ├── Transport         core.contracts    where non-local messages go beyond this
    │                                       process (publish), and how messages from
    │                                       the others come in (inbox.receive)
    ├── SharedStores      core.contracts    where the store behind
    │                                       Queue(..., shared=True) lives
    └── connection_state  rpc.connections   where the JSON-RPC endpoint keeps its
                          ConnectionState   connections, their queues and the
                                            window of accepted uids

The dispatcher is handed the first two (``core.contracts.Backend``) and
nothing else; the Django glue hands ``connection_state`` to the endpoint and
the peer links, so that any worker sharing the backend serves any token and
a retried message is accepted once. ``options`` are the BACKEND_OPTIONS the
backend was built with: the glue builds a new backend when they change.

Implementations: ``backends.memory.MemoryBackend`` (one process, the default)
and ``backends.redis.RedisBackend`` (every process sharing a Redis URL and
prefix). A backend is built as ``Backend(**BACKEND_OPTIONS)``; an unknown
option is a TypeError, a bad value ``ImproperlyConfiguredBackend``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

from ..core.contracts import Backend
from ..rpc.connections import ConnectionState

if TYPE_CHECKING:
    from ..core.message import Message

__all__ = [
    "DeadLetter",
    "DeadLetters",
    "GroupPolicy",
    "GroupedBackend",
    "SiteBackend",
]


class SiteBackend(Backend, Protocol):
    """A dispatcher's backend plus the JSON-RPC state of the site (see the module docstring)."""

    #: The BACKEND_OPTIONS it was built with.
    options: dict[str, Any]

    @property
    def connection_state(self) -> ConnectionState:
        """Where the JSON-RPC endpoint and the peer links keep their session state."""
        ...


@dataclasses.dataclass(frozen=True)
class GroupPolicy:
    """How a backend that distributes follower groups retries and bounds them.

    The Django glue fills it from BERRYMQ's GROUP_* settings: seconds a
    member may hold a message before another takes it, calls of a failing
    follower in all, messages a group's stream keeps, dead letters kept per group.
    """

    claim_seconds: float = 30.0
    max_attempts: int = 3
    maxlen: int = 1_000_000
    dead_letters: int = 10_000


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A grouped message that failed its last attempt, with what the last one raised."""

    group: str
    id: str  # the dead letter's own id, in its group
    identifier: str
    message: Message | None  # None when it can no longer be read
    error: str  # the last attempt's exception, with its traceback
    attempts: int
    failed_at: float  # epoch seconds
    worker: str  # the token of the process that gave up


class DeadLetters(Protocol):
    """The dead letters a backend keeps, per follower group (berrymq_dead)."""

    def counts(self, group: str | None = None) -> dict[str, int]:
        """Return the number of dead letters of each group (or of group only)."""
        ...

    def list(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Return up to limit dead letters per group, oldest first."""
        ...

    def retry(self, group: str | None = None) -> dict[str, tuple[int, int]]:
        """Hand each group's dead letters back to it; return {group: (sent, left)}."""
        ...

    def purge(self, group: str | None = None) -> dict[str, int]:
        """Delete the dead letters of every group (or of group); return {group: deleted}."""
        ...


class GroupedBackend(Protocol):
    """A site backend that distributes follower groups and keeps their dead letters."""

    dead_letters: DeadLetters

    def configure_groups(self, policy: GroupPolicy) -> None:
        """Apply the GROUP_* settings."""
        ...
