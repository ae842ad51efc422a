"""One connection to one peer site: what every peer link shares.

A link works in one of berryMQ's styles:

``oneway`` (style 02)
    we only send: non-local messages matching FORWARD go to the peer.
``interconnect`` (style 01)
    we send, and we ask the peer to send back: we open a callback
    connection here and pass its token with ``interconnect``; the peer
    starts a ``callback`` link that authenticates with that token.
``queue`` (style 03)
    we pull the peer's queue by long poll and send each message here.
``callback``
    the far end of someone else's ``interconnect``.

``BaseLink`` holds what they share: the peer's client and our token,
connecting in each style, the thread and its start, stop and fork, the
failure accounting (exponential backoff with full jitter) and the figures
``status()`` reports. ``sender.PeerLink`` sends (styles oneway,
interconnect, callback); ``puller.QueueLink`` pulls (style queue).

The link is started, stopped and reset after fork by its registry
(``peers.Peers``), which the process lifecycle owns. ``stop(deadline)``
flushes until the deadline, even a link that never started (a management
command that twittered); what is still unsent then is logged with the
peer and the count, and counted as dropped. Stopping keeps the connection
on the peer (a site restarting finds its interconnect's messages waiting
there); ``close()``, for a link that is removed, closes it.

The HTTP transport is injected (``transport=``, an ``httpx.BaseTransport``)
so the retry rules can be tested without sockets. Every call is bounded by
TIMEOUT from start to end (see client.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ..core.identifier import Identifier, parse_identifier
from .client import PeerError, RemoteError, RPCClient, shown_url
from .connections import Connection, new_token
from .retry import Decision, decide

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from .connections import ConnectionState

__all__ = ["CALLBACK_PRINCIPAL_PREFIX", "BaseLink", "LinkStyle", "PeerConfig"]

logger = logging.getLogger("berrymq.peers")

LinkStyle = Literal["oneway", "interconnect", "queue", "callback"]

#: Principal of the callback connections we open for interconnected peers.
CALLBACK_PRINCIPAL_PREFIX = "peer:"

# Our own generator: retry jitter must not draw from (or reseed) the global one.
_jitter = random.Random()


def _nothing() -> None:
    pass


@dataclasses.dataclass(frozen=True)
class PeerConfig:
    """One peer, as BERRYMQ["PEERS"] describes it (keys upper-case there)."""

    name: str
    url: str
    api_key: str | None = None
    style: LinkStyle = "interconnect"
    forward: tuple[Identifier, ...] = (parse_identifier("*:*"),)
    queue: str | None = None
    ttl: float = 1000.0
    buffer_size: int = 100_000
    batch_size: int = 1000
    flush_interval: float = 0.002
    timeout: float = 10.0
    poll_seconds: float = 20.0
    max_backoff: float = 2.0
    #: For style "callback": the token the peer gave us (also our credential).
    token: str | None = None


class BaseLink:
    """One connection to one peer (see the module docstring); subclasses do the work.

    Threads: the link's own thread (or, for a link that never started, the
    thread that stops it) owns the token and the counters but ``dropped``,
    which ``_drop_lock`` guards; ``_start_lock`` guards starting and the
    client's replacement.
    """

    #: Whether stop() waits for the thread to flush (a puller has nothing to flush).
    waits_at_stop = True

    def __init__(
        self,
        config: PeerConfig,
        dispatcher: Dispatcher,
        state: ConnectionState,
        self_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.state = state
        self.self_url = self_url
        self.transport = transport
        self.peer_node: str | None = None
        #: Called when peer_node is learnt or changes (the registry's routes depend on it).
        self.on_peer_node: Callable[[], None] = _nothing
        self._reset()

    def _reset(self) -> None:
        """(Re)create the thread state and counters; a forked child starts from here."""
        config = self.config
        credential = config.token if config.style == "callback" else config.api_key
        self.client = RPCClient(
            config.url, credential, timeout=config.timeout, transport=self.transport
        )
        self.token: str | None = config.token
        self._token_worked = False  # a call succeeded with self.token
        self.callback_token: str | None = None
        self._drop_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._deadline: float | None = None  # set by stop(): when flushing must end
        self._stopped = False  # stop() finished: the client is closed
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False  # the peer closed a callback link: buffer until it is back
        # Counters for status().
        self.sent = self.retried = self.dropped = 0
        self.failures = 0  # consecutive failed calls, 0 once one succeeds
        self.last_error: str | None = None
        self.last_success: float | None = None
        # Round trip of the last successful short call (a send, or a connect; never a
        # long poll, which waits for messages by design), in seconds.
        self.rtt_seconds: float | None = None

    # -- what subclasses provide --------------------------------------------

    def _run(self) -> None:
        """The thread's work: send or pull until stopped."""
        raise NotImplementedError

    def _runs(self) -> bool:
        """Whether the link may start (a replaced sender may not)."""
        return True

    @property
    def buffered(self) -> int:
        """Messages held for the peer."""
        return 0

    def _discard(self) -> None:
        """Forget what is held (it was counted as dropped)."""

    # -- start, stop, fork --------------------------------------------------

    def start(self) -> None:
        """Start the link's thread; idempotent."""
        if not self._runs():
            return
        if self._stopping.is_set():
            if self._thread is not None and self._thread.is_alive():
                return  # still stopping
            self._reset()  # started again after a stop: afresh
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name=f"berrymq-peer-{self.config.name}", daemon=True
            )
            self._thread.start()

    def begin_stop(self, deadline: float) -> None:
        """Ask the thread to flush what it holds until deadline (monotonic), then end."""
        self._deadline = deadline
        self._stopping.set()
        self._wakeup.set()

    def stop(self, deadline: float) -> None:
        """Flush until deadline (monotonic), then end; the peer keeps our connection.

        What is still unsent at the deadline is logged with the peer and the
        count, and counted as dropped. Idempotent.
        """
        self._stop(deadline, close_remote=False)

    def close(self, timeout: float = 5.0) -> None:
        """Flush for at most timeout seconds, end, and close our connection on the peer."""
        self._stop(time.monotonic() + timeout, close_remote=True)

    def _stop(self, deadline: float, *, close_remote: bool) -> None:
        if self._stopped:
            return
        self.begin_stop(deadline)
        with self._start_lock:
            thread = self._thread
        if thread is None:
            if self.buffered:
                self._run()  # never started (a management command twittered): flush here
        elif thread is not threading.current_thread() and self.waits_at_stop:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._abandon()
        remaining = deadline - time.monotonic()
        if close_remote and self.token and self.config.style != "callback" and remaining > 0.05:
            with contextlib.suppress(PeerError):
                self.client.call("close_connection", self.token, timeout=min(remaining, 2.0))
        self.client.close()
        self._stopped = True

    def _abandon(self) -> None:
        """Count and log what is left once the link has stopped trying."""
        left = self.buffered
        if not left:
            return
        self._discard()
        with self._drop_lock:
            self.dropped += left
        logger.error(
            "berryMQ peer %s (%s): stopped with %d message(s) unsent; dropped",
            self.config.name,
            self.config.url,
            left,
        )

    def after_fork(self) -> None:
        """Forget the parent's thread, buffer and connections (the parent still sends those)."""
        self._reset()

    # -- connecting ---------------------------------------------------------

    def _connect(self) -> None:
        config = self.config
        if config.style == "callback":
            raise RemoteError(-32000, "invalid token")  # we cannot make a new one
        self._token_worked = False
        timeout = self._call_timeout()
        if config.style == "oneway":
            self.token = self.client.call("connect_oneway", config.ttl, timeout=timeout)
        elif config.style == "queue":
            self.token = self.client.call(
                "connect_via_queue", config.queue, config.ttl, timeout=timeout
            )
        else:
            self.token = self.client.call(
                "interconnect", self.self_url, self._open_callback(), config.ttl, timeout=timeout
            )
        self.rtt_seconds = self.client.rtt_seconds
        self._learn_node()

    def _learn_node(self) -> None:
        """Ask the peer its node name, so messages that came from it are not sent back."""
        with contextlib.suppress(PeerError, AttributeError):
            node = self.client.call("status", timeout=self._call_timeout()).get("node")
            if node != self.peer_node:
                self.peer_node = node
                self.on_peer_node()

    def _open_callback(self) -> str:
        """Open the connection the peer will call us back on; its token is the credential."""
        if not self.self_url:
            raise PeerError(
                f"peer {self.config.name!r} is interconnected but BERRYMQ 'SELF_URL' is not set"
            )
        state = self.state
        if self.callback_token is None or state.get_connection(self.callback_token) is None:
            connection = Connection(
                new_token(),
                CALLBACK_PRINCIPAL_PREFIX + self.config.name,
                "interconnect",
                self.config.ttl,
                addr=self.config.url,
            )
            state.open_connection(connection)
            self.callback_token = connection.token
        return self.callback_token

    def _call_timeout(self) -> float:
        """Return the seconds one call may take: TIMEOUT, or less once stopping."""
        deadline = self._deadline
        if deadline is None:
            return self.config.timeout
        return max(0.01, min(self.config.timeout, deadline - time.monotonic()))

    def _past_deadline(self) -> bool:
        deadline = self._deadline
        return deadline is not None and time.monotonic() >= deadline

    def _backoff(self, attempt: int) -> None:
        """Wait before attempt (1, 2...): exponential, capped at MAX_BACKOFF, ended by stop."""
        # Exponential with full jitter, so restarted peers are not hit in lockstep.
        delay = _jitter.uniform(0, min(self.config.max_backoff, 0.05 * 2**attempt))
        self._stopping.wait(delay)

    def _failed(self, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.failures += 1
        # Log the first failure of a streak and every change of reason, not each retry.
        if self.failures == 1 or error != self.last_error:
            logger.warning("berryMQ peer %s: %s (retrying)", self.config.name, error)
        self.last_error = error

    def _succeeded(self, *, timed: bool = True) -> None:
        """Record a successful call; ``timed``: its round trip is the link's rtt_seconds."""
        if timed:
            self.rtt_seconds = self.client.rtt_seconds
        if self.failures:
            logger.warning(
                "berryMQ peer %s: back after %d failed attempt(s)", self.config.name, self.failures
            )
            self.failures = 0
        self.last_success = time.time()

    def _handle(self, exc: Exception) -> str:
        """Record a failure, apply the retry rules (see retry.py); return what to do next.

        "stop" ends the link, "resend" tries again at once, "retry" backs off first.
        """
        self._failed(exc)
        return self._follow(
            decide(
                exc,
                callback=self.config.style == "callback",
                token_worked=self._token_worked,
                batch=[],
                batch_limit=1,
            )
        )

    def _follow(self, decision: Decision[Any]) -> str:
        """Apply a decision's action: a reconnection forgets the token."""
        action = decision.action
        if action in ("reconnect", "reconnect_now"):
            self.token = None
            return "resend" if action == "reconnect_now" else "retry"
        return action

    # -- reporting ----------------------------------------------------------

    @property
    def state_name(self) -> str:
        """idle, connecting, connected, retrying (the last call failed), stopped or closed."""
        if self._closed:
            return "closed"
        thread = self._thread
        if thread is None:
            return "idle"
        if not thread.is_alive():
            return "stopped"
        if self.failures:
            return "retrying"
        if self.token is None or self.last_success is None:
            return "connecting"
        return "connected"

    def status(self) -> dict[str, Any]:
        """Return the link's figures as a dict.

        Keys: url, style, state (see ``state_name``), buffered, sent, retried,
        dropped (message counts), last_error ("PeerUnavailable: ..." or None),
        last_success_at (Unix seconds of the last successful call, or None;
        also as last_success, its earlier name), rtt_seconds (round trip of
        the last successful send or connect, or None).
        """
        return {
            "url": shown_url(self.config.url),
            "style": self.config.style,
            "state": self.state_name,
            "buffered": self.buffered,
            "sent": self.sent,
            "retried": self.retried,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_success": self.last_success,
            "last_success_at": self.last_success,
            "rtt_seconds": self.rtt_seconds,
        }

    def __repr__(self) -> str:
        config = self.config
        return f"<{type(self).__name__} {config.name} {config.style} {shown_url(config.url)}>"
