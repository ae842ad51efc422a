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

from typing import Any, Protocol

from ..core.contracts import Backend
from ..rpc.connections import ConnectionState

__all__ = ["SiteBackend"]


class SiteBackend(Backend, Protocol):
    """A dispatcher's backend plus the JSON-RPC state of the site (see the module docstring)."""

    #: The BACKEND_OPTIONS it was built with.
    options: dict[str, Any]

    @property
    def connection_state(self) -> ConnectionState:
        """Where the JSON-RPC endpoint and the peer links keep their session state."""
        ...
