"""One connection to one peer site: a sender that batches and retries, or a queue puller.

A ``PeerLink`` works in one of berryMQ's styles:

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

Sending never gets in the way of twitter(): ``relay()`` appends to a
bounded buffer and the link's thread batches messages into
``send_messages`` calls, retrying with exponential backoff and jitter.
Order is kept (the batch in flight is retried before anything newer), the
receiver's uid dedup makes retries exactly-once, and when the buffer is
full the oldest messages are dropped, counted and logged, never silently.
A message the peer refuses (too big for its limits, invalid there) is
dropped alone, counted and logged; the rest of its batch goes on.

The link is started, stopped and reset after fork by its registry
(``peers.Peers``), which the process lifecycle owns. ``stop(deadline)``
flushes until the deadline, even a link that never started (a management
command that twittered); what is still unsent then is logged with the
peer and the count, and counted as dropped. Stopping keeps the connection
on the peer (a site restarting finds its interconnect's messages waiting
there); ``close()``, for a link that is removed, closes it.

A link that replaces another of the same name (``take_over``) sends what
the old one still held first, in its order; a call-back link that the peer
interconnects with again keeps its buffer and changes its token
(``retarget``).

The HTTP transport is injected (``transport=``, an ``httpx.BaseTransport``)
so the retry rules can be tested without sockets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ..core.identifier import Identifier, parse_identifier
from ..core.message import Message
from .client import PeerError, RemoteError, RPCClient
from .connections import Connection, new_token
from .retry import decide, unencodable

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from .connections import ConnectionState

__all__ = ["CALLBACK_PRINCIPAL_PREFIX", "LinkStyle", "PeerConfig", "PeerLink", "wire_form"]

logger = logging.getLogger("berrymq.peers")

LinkStyle = Literal["oneway", "interconnect", "queue", "callback"]

#: Principal of the callback connections we open for interconnected peers.
CALLBACK_PRINCIPAL_PREFIX = "peer:"
#: An idle interconnect calls its peer this often at least, so a restarted peer
#: learns again within this time that it should call us back.
INTERCONNECT_KEEPALIVE_SECONDS = 10.0
#: Failed attempts after which a stopping link gives up before its deadline.
STOP_ATTEMPTS = 3
#: Bound on the per-link cache of "does FORWARD want this identifier".
_MAX_CACHED_DECISIONS = 10_000

# Our own generator: retry jitter must not draw from (or reseed) the global one.
_jitter = random.Random()


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


def wire_form(message: Message) -> dict[str, Any]:
    """Return a message as send_messages carries it: empty args and kwargs left out."""
    data: dict[str, Any] = {
        "id": message.id,
        "uid": message.uid,
        "origin": message.origin,
        "timestamp": message.timestamp,
    }
    if message.args:
        data["args"] = message.args
    kwargs = message.kwargs
    if kwargs:
        data["kwargs"] = kwargs
    if message.reply_to is not None:
        data["reply_to"] = message.reply_to
    return data


class PeerLink:
    """One connection to one peer: a relay for outgoing messages, or a queue puller.

    Threads: ``relay()``/``enqueue()`` run in any thread (the senders'); the
    link's own thread (or, for a link that never started, the thread that
    stops it) owns ``_inflight``, the token and the counters but
    ``dropped``, which ``_drop_lock`` guards. The buffer is a deque, whose
    append and popleft need no lock.
    """

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
        self._wanted: dict[str, bool] = {}
        self._forward_all = any(
            p.namespace is None and p.name == "*" and p.action == "*" for p in config.forward
        )
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
        self._buffer: deque[Message] = deque()
        self._inflight: list[Message] = []
        # At most half the buffer in flight, so that a full buffer drops the oldest
        # *buffered* messages, never the batch being retried.
        self._batch_limit = max(1, min(config.batch_size, config.buffer_size // 2))
        self._drop_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._deadline: float | None = None  # set by stop(): when flushing must end
        self._stopped = False  # stop() finished: the client is closed
        # Links this one replaced: their unsent messages go first (see take_over).
        self._predecessors: list[PeerLink] = []
        self._successor: PeerLink | None = None  # set once replaced: late messages go there
        self._generation = 0  # bumped by retarget: a call made before it is retried, not judged
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False  # the peer closed a callback link: buffer until it is back
        # Counters for status().
        self.sent = self.retried = self.dropped = 0
        self.failures = 0  # consecutive failed calls, 0 once one succeeds
        self.last_error: str | None = None
        self.last_success: float | None = None

    # -- the relay side -----------------------------------------------------

    def relay(self, message: Message) -> None:
        """Queue a non-local message for the peer, unless it came from there or is not wanted."""
        if message.origin == self.peer_node:
            return
        wanted = self._wanted.get(message.id)
        if wanted is None:
            wanted = self._wants(message.id)
        if wanted:
            self.enqueue(message)

    def _wants(self, identifier: str) -> bool:
        """Decide once per identifier whether FORWARD lets it through (decisions are cached)."""
        ident = parse_identifier(identifier)
        wanted = (self._forward_all and ident.namespace is None) or any(
            pattern.matches(ident) for pattern in self.config.forward
        )
        if len(self._wanted) >= _MAX_CACHED_DECISIONS:
            self._wanted = {}
        self._wanted[identifier] = wanted
        return wanted

    def enqueue(self, message: Message) -> None:
        """Buffer a message for the peer; when full, drop the oldest (counted, logged)."""
        successor = self._successor
        if successor is not None:  # replaced while the sender held the old link
            successor.enqueue(message)
            return
        buffer = self._buffer
        if len(buffer) + len(self._inflight) >= self.config.buffer_size and not self._drop_oldest():
            return  # all it holds is the batch in flight: this one is the message dropped
        buffer.append(message)
        if not self._wakeup.is_set():
            self._wakeup.set()

    def _drop_oldest(self) -> bool:
        """Drop the oldest buffered message; return False when none is buffered (all in flight)."""
        with self._drop_lock:
            self.dropped += 1
            dropped = self.dropped
            try:
                self._buffer.popleft()
                made_room = True
            except IndexError:
                made_room = False
        if dropped == 1 or dropped % 1000 == 0:
            logger.warning(
                "berryMQ peer %s: buffer full (BUFFER_SIZE %d, peer %s); "
                "dropped %d message(s) so far, oldest first",
                self.config.name,
                self.config.buffer_size,
                self.state_name,
                dropped,
            )
        return made_room

    def refused(self, messages: list[Message], why: object) -> None:
        """Count and log messages dropped because the peer cannot take them."""
        with self._drop_lock:
            self.dropped += len(messages)
        logger.error(
            "berryMQ peer %s refused %d message(s) (%s): %s",
            self.config.name,
            len(messages),
            ", ".join(sorted({m.id for m in messages})),
            why,
        )

    # -- start, stop, fork --------------------------------------------------

    def start(self) -> None:
        """Start the link's thread; idempotent."""
        if self._successor is not None:
            return  # replaced: never runs again
        if self._stopping.is_set():
            if self._thread is not None and self._thread.is_alive():
                return  # still stopping
            self._reset()  # started again after a stop: afresh
        with self._start_lock:
            if self._thread is not None and (self._thread.is_alive() or self._successor):
                return
            self._thread = threading.Thread(
                target=self._run, name=f"berrymq-peer-{self.config.name}", daemon=True
            )
            self._thread.start()

    #: Whether stop() waits for the thread to flush (a puller has nothing to flush).
    waits_at_stop = True

    def _run(self) -> None:
        self._send_loop()

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
            if self._buffer or self._inflight or self._predecessors:
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

    def take_over(self, old: PeerLink) -> None:
        """Replace old: what it has not sent goes before this link's messages, in order.

        Old stops at once without flushing; this link's thread waits for it
        to end, then sends its batch in flight and buffer first.
        """
        old._successor = self
        old._stopping.set()
        old._wakeup.set()
        self._predecessors = [*old._predecessors, old]
        old._predecessors = []
        self._wakeup.set()

    def retarget(self, token: str, ttl: float) -> None:
        """Call the peer back on a new token (it interconnected again); keep what is buffered."""
        old_client = self.client
        with self._start_lock:
            self.config = dataclasses.replace(self.config, token=token, ttl=ttl)
            self.client = RPCClient(
                self.config.url, token, timeout=self.config.timeout, transport=self.transport
            )
            self.token = token
            self._generation += 1
            self._token_worked = False
            self._closed = False
        old_client.close()  # a call in flight on the old token ends now; it is resent
        self._wakeup.set()

    def _adopt_predecessors(self) -> None:
        """Put the unsent messages of the links this one replaced before its own."""
        taken: list[Message] = []
        for old in self._predecessors:
            thread = old._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(old.config.timeout + 1.0)  # it ends after its call in flight
            taken.extend(old._inflight)
            old._inflight = []
            while old._buffer:
                taken.append(old._buffer.popleft())
        self._predecessors = []
        self._buffer.extendleft(reversed(taken))

    def _abandon(self) -> None:
        """Count and log what is left once the link has stopped trying."""
        left = self.buffered
        if not left:
            return
        for old in self._predecessors:
            old._buffer.clear()
            old._inflight = []
        self._buffer.clear()
        self._inflight = []
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
        self._learn_node()

    def _learn_node(self) -> None:
        """Ask the peer its node name, so messages that came from it are not sent back."""
        with contextlib.suppress(PeerError, AttributeError):
            self.peer_node = self.client.call("status", timeout=self._call_timeout()).get("node")

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

    def _succeeded(self) -> None:
        if self.failures:
            logger.warning(
                "berryMQ peer %s: back after %d failed attempt(s)", self.config.name, self.failures
            )
            self.failures = 0
        self.last_success = time.time()

    # -- sending ------------------------------------------------------------

    def _send_loop(self) -> None:
        attempt = 0
        keepalive = max(1.0, self.config.ttl / 3)
        if self.config.style in ("interconnect", "callback"):
            keepalive = min(keepalive, INTERCONNECT_KEEPALIVE_SECONDS)
        last_call = float("-inf")  # connect at once: an interconnected peer waits for us
        if self._predecessors:
            self._adopt_predecessors()
        if self.config.style == "callback":
            self._learn_node()
        while True:
            if self._successor is not None:
                return  # replaced: the successor sends what is left
            if not self._inflight and not self._buffer:
                if self._stopping.is_set():
                    return
                # A one-way link has nothing to say before its first message.
                idle = self.config.style == "oneway" and self.token is None
                due = None if idle else last_call + keepalive - time.monotonic()
                if due is None or due > 0:
                    self._wakeup.wait(due)
                    self._wakeup.clear()
                    continue  # a message, a stop, or the keepalive falling due
            elif not self._inflight and len(self._buffer) < self._batch_limit:
                # A link that just sent lets a batch gather for a moment (fewer, fuller
                # requests under load); an idle one sends at once (low latency).
                gather = last_call + self.config.flush_interval - time.monotonic()
                if gather > 0 and not self._stopping.is_set():
                    self._stopping.wait(gather)
            if self._past_deadline():
                return
            generation = self._generation
            try:
                if self.token is None:
                    self._connect()
                self._flush()
                last_call = time.monotonic()
                attempt = 0
            except (PeerError, OSError) as exc:
                if generation != self._generation or self._successor is not None:
                    continue  # retargeted or replaced meanwhile: that call says nothing
                action = self._handle(exc)
                if action == "stop":
                    self._closed = True
                    return
                if action == "resend":
                    continue  # the batch was split or trimmed: send the rest at once
                attempt += 1
                self.retried += 1
                if self._stopping.is_set() and attempt > STOP_ATTEMPTS:
                    return  # stopping: give up after a few quick tries
                self._backoff(attempt)
            except Exception as exc:  # a bug must not silently end the link
                logger.exception("berryMQ peer %s: the sender failed", self.config.name)
                self._failed(exc)
                attempt += 1
                if self._stopping.is_set() and attempt > STOP_ATTEMPTS:
                    return
                self._backoff(attempt)

    def _flush(self) -> None:
        batch = self._inflight
        if not batch:
            buffer, peer = self._buffer, self.peer_node
            for _ in range(min(len(buffer), self._batch_limit)):
                message = buffer.popleft()
                # Checked again here: the peer's name may have been learnt since relay().
                if message.origin != peer:
                    batch.append(message)
        payload = [wire_form(m) for m in batch]
        try:
            self.client.call("send_messages", self.token, payload, timeout=self._call_timeout())
        except TypeError:  # orjson cannot encode a message (an int beyond 64 bits, say)
            bad = unencodable(batch, payload)
            self.refused(bad, "cannot be encoded as JSON")
            dropped = {id(m) for m in bad}
            batch[:] = [m for m in batch if id(m) not in dropped]
            return
        self.sent += len(batch)
        batch.clear()
        self._token_worked = True
        self._succeeded()

    def _handle(self, exc: Exception) -> str:
        """Record a failure, apply the retry rules (see retry.py); return what to do next.

        "stop" ends the link, "resend" sends at once, "retry" backs off first.
        """
        self._failed(exc)
        batch = self._inflight
        decision = decide(
            exc,
            callback=self.config.style == "callback",
            token_worked=self._token_worked,
            batch=batch,
            batch_limit=self._batch_limit,
        )
        if decision.batch_limit is not None:
            self._batch_limit = decision.batch_limit
        if decision.requeue:
            self._buffer.extendleft(reversed(decision.requeue))
            del batch[len(batch) - len(decision.requeue) :]
        if decision.refused:
            self.refused(decision.refused, exc)
            refused = {id(m) for m in decision.refused}
            batch[:] = [m for m in batch if id(m) not in refused]
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

    @property
    def buffered(self) -> int:
        """Messages held for the peer (those of replaced links included)."""
        held = len(self._buffer) + len(self._inflight)
        return held + sum(len(old._buffer) + len(old._inflight) for old in self._predecessors)

    def status(self) -> dict[str, Any]:
        """Return the link's figures: url, style, state, buffered, sent, retried, dropped..."""
        return {
            "url": self.config.url,
            "style": self.config.style,
            "state": self.state_name,
            "buffered": self.buffered,
            "sent": self.sent,
            "retried": self.retried,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_success": self.last_success,
        }

    def __repr__(self) -> str:
        return f"<PeerLink {self.config.name} {self.config.style} {self.config.url}>"
