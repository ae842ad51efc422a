"""What one JSON-RPC call works with: the caller, the dispatcher, the session state, the limits.

The Django view builds a ``CallContext`` per request and hands in what the
site is made of (its dispatcher, its ``ConnectionState``, its peer links),
so nothing in the rpc package looks them up for itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from .connections import ConnectionState
    from .peers import Peers

__all__ = ["CallContext", "Limits"]


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The BERRYMQ settings the procedures obey."""

    max_poll_seconds: float = 25.0
    dedup_seconds: float = 600.0
    queue_maxsize: int = 10_000
    max_identifier_length: int = 200
    max_messages_per_call: int = 10_000
    #: Call-back links one principal's interconnects may hold at once (one per address).
    max_interconnects: int = 16


@dataclasses.dataclass(slots=True)
class CallContext:
    """Who is calling, and the dispatcher, state, peer links and limits the call works with.

    ``peers`` is the site's link registry (interconnect starts a call-back
    link there; None: this endpoint cannot call back). ``site_report`` adds
    the site's own figures (its backend, say) to ``status``.
    """

    principal: str
    dispatcher: Dispatcher
    state: ConnectionState
    limits: Limits
    peers: Peers | None = None
    anonymous: bool = False
    #: time.monotonic() past which no call of this request may wait: a batch of
    #: blocking gets shares one MAX_POLL_SECONDS, it does not get one each.
    deadline: float | None = None
    site_report: Callable[[], dict[str, Any]] | None = None
    #: Called when a call is about to wait on an event loop (an awaited get):
    #: the site gives back what the request holds meanwhile (a thread, say).
    before_wait: Callable[[], None] | None = None

    def wait_budget(self, wanted: float) -> float:
        """Return how long a call may wait: wanted, capped by the request's deadline."""
        if self.deadline is None:
            return wanted
        return max(0.0, min(wanted, self.deadline - time.monotonic()))
