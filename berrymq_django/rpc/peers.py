"""Site-to-site peering: links that carry messages to and from other berryMQ nodes.

A ``PeerLink`` is one connection to one peer, in one of berryMQ's styles:

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
bounded buffer and a background thread per link batches messages into
``send_messages`` calls, retrying with exponential backoff and jitter.
Order is kept (the batch in flight is retried before anything newer), the
receiver's uid dedup makes retries exactly-once, and when the buffer is
full the oldest messages are dropped, counted and logged, never silently.
A message the peer refuses (too big for its limits, invalid there) is
dropped alone, counted and logged; the rest of its batch goes on.
Threads start lazily, restart after fork and flush at exit within a bound.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import random
import re
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ..core.identifier import Identifier, parse_identifier
from ..core.message import Message
from .client import PeerError, RemoteError, RPCClient, Unauthorized
from .connections import Connection, new_token
from .protocol import INVALID_PARAMS, INVALID_TOKEN, LIMIT_EXCEEDED

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher

__all__ = [
    "LinkStyle",
    "PeerConfig",
    "PeerLink",
    "Peers",
    "callback_name",
    "peers_for",
    "wire_form",
]

logger = logging.getLogger("berrymq.peers")

LinkStyle = Literal["oneway", "interconnect", "queue", "callback"]

#: Principal of the callback connections we open for interconnected peers.
CALLBACK_PRINCIPAL_PREFIX = "peer:"
#: How long a pulled message's uid is remembered, so a redelivery is not sent twice.
PULL_DEDUP_SECONDS = 600.0
#: An idle interconnect calls its peer this often at least, so a restarted peer
#: learns again within this time that it should call us back.
INTERCONNECT_KEEPALIVE_SECONDS = 10.0
#: How often each process of a site on a shared backend looks for interconnects
#: that reached one of its other processes, to call those peers back too.
CALLBACK_SYNC_SECONDS = 2.0
#: Bound on the per-link cache of "does FORWARD want this identifier".
_MAX_CACHED_DECISIONS = 10_000
# Older peers name a refused message only in the text: "messages[i]".
_BAD_INDEX = re.compile(r"\bmessages\[(\d+)\]")


def _refused_index(exc: RemoteError) -> int | None:
    """Return the index of the one message a send_messages error refuses, if it names one."""
    if exc.code != INVALID_PARAMS:
        return None
    if isinstance(exc.data, dict) and isinstance(exc.data.get("index"), int):
        return int(exc.data["index"])
    match = _BAD_INDEX.search(exc.message)
    return int(match.group(1)) if match else None


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
    link's own thread owns ``_inflight``, the token and the counters but
    ``dropped``, which ``_drop_lock`` guards. The buffer is a deque, whose
    append and popleft need no lock.
    """

    def __init__(self, config: PeerConfig, dispatcher: Dispatcher, self_url: str | None) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.self_url = self_url
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
        self.client = RPCClient(config.url, credential, timeout=config.timeout)
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
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False  # the peer closed a callback link: nothing more goes there
        # Counters for status().
        self.sent = self.retried = self.dropped = 0
        self.failures = 0  # consecutive failed calls, 0 once one succeeds
        self.last_error: str | None = None
        self.last_success: float | None = None

    # -- the relay side -----------------------------------------------------

    def relay(self, message: Message) -> None:
        """Queue a non-local message for the peer, unless it came from there or is not wanted."""
        if message.origin == self.peer_node or self._closed:
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
        buffer = self._buffer
        if len(buffer) + len(self._inflight) >= self.config.buffer_size and not self._drop_oldest():
            return  # all it holds is the batch in flight: this one is the message dropped
        buffer.append(message)
        if self._thread is None:
            self.start()
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
                self.state,
                dropped,
            )
        return made_room

    def _refused(self, messages: list[Message], why: object) -> None:
        with self._drop_lock:
            self.dropped += len(messages)
        logger.error(
            "berryMQ peer %s refused %d message(s) (%s): %s",
            self.config.name,
            len(messages),
            ", ".join(sorted({m.id for m in messages})),
            why,
        )

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Start the link's thread once (lazily: the first message or request does it)."""
        with self._start_lock:
            if self._thread is not None:
                return
            target = self._pull_loop if self.config.style == "queue" else self._send_loop
            self._thread = threading.Thread(
                target=target, name=f"berrymq-peer-{self.config.name}", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is buffered (within timeout), close the remote connection, stop."""
        self._stopping.set()
        self._wakeup.set()
        thread = self._thread
        # A puller has nothing to flush and may sit in a long poll: do not wait for it.
        if (
            thread is not None
            and thread is not threading.current_thread()
            and self.config.style != "queue"
        ):
            thread.join(timeout)
        if self.token and self.config.style != "callback":
            with contextlib.suppress(PeerError):
                self.client.call("close_connection", self.token, timeout=min(timeout, 2.0) or 0.1)
        self.client.close()

    def after_fork(self) -> None:
        # The parent keeps sending what it buffered; the child starts empty, with
        # its own thread (started lazily) and its own HTTP connections.
        self._reset()

    # -- connecting ---------------------------------------------------------

    def _connect(self) -> None:
        config = self.config
        if config.style == "callback":
            raise RemoteError(INVALID_TOKEN, "invalid token")  # we cannot make a new one
        self._token_worked = False
        if config.style == "oneway":
            self.token = self.client.call("connect_oneway", config.ttl)
        elif config.style == "queue":
            self.token = self.client.call("connect_via_queue", config.queue, config.ttl)
        else:
            self.token = self.client.call(
                "interconnect", self.self_url, self._open_callback(), config.ttl
            )
        self._learn_node()

    def _learn_node(self) -> None:
        """Ask the peer its node name, so messages that came from it are not sent back."""
        with contextlib.suppress(PeerError, AttributeError):
            self.peer_node = self.client.call("status").get("node")

    def _open_callback(self) -> str:
        """Open the connection the peer will call us back on; its token is the credential."""
        if not self.self_url:
            raise PeerError(
                f"peer {self.config.name!r} is interconnected but BERRYMQ 'SELF_URL' is not set"
            )
        backend = self.dispatcher.backend
        if self.callback_token is None or backend.get_connection(self.callback_token) is None:
            connection = Connection(
                new_token(),
                CALLBACK_PRINCIPAL_PREFIX + self.config.name,
                "interconnect",
                self.config.ttl,
                addr=self.config.url,
            )
            backend.open_connection(connection)
            self.callback_token = connection.token
        return self.callback_token

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
        if self.config.style == "callback":
            self._learn_node()
        while True:
            if not self._inflight and not self._buffer:
                if self._stopping.is_set():
                    return
                due = last_call + keepalive - time.monotonic()
                if due > 0:
                    self._wakeup.wait(due)
                    self._wakeup.clear()
                    continue  # a message, a stop, or the keepalive falling due
            elif not self._inflight and len(self._buffer) < self._batch_limit:
                # A link that just sent lets a batch gather for a moment (fewer, fuller
                # requests under load); an idle one sends at once (low latency).
                gather = last_call + self.config.flush_interval - time.monotonic()
                if gather > 0:
                    self._stopping.wait(gather)
            try:
                if self.token is None:
                    self._connect()
                self._flush()
                last_call = time.monotonic()
                attempt = 0
            except (PeerError, OSError) as exc:
                action = self._handle(exc)
                if action == "stop":
                    self._closed = True
                    return
                if action == "resend":
                    continue  # the batch was split or trimmed: send the rest at once
                attempt += 1
                self.retried += 1
                if self._stopping.is_set() and attempt > 3:
                    return  # exiting: give up after a few quick tries
                self._backoff(attempt)
            except Exception as exc:  # a bug must not silently end the link
                logger.exception("berryMQ peer %s: the sender failed", self.config.name)
                self._failed(exc)
                attempt += 1
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
        try:
            payload = [wire_form(m) for m in batch]
            self.client.call("send_messages", self.token, payload)
        except TypeError:  # orjson cannot encode a message (an int beyond 64 bits, say)
            self._drop_unencodable()
            return
        self.sent += len(batch)
        batch.clear()
        self._token_worked = True
        self._succeeded()

    def _drop_unencodable(self) -> None:
        bad = []
        for message in self._inflight:
            try:
                orjson.dumps(wire_form(message), default=str)
            except TypeError:
                bad.append(message)
        bad = bad or list(self._inflight)  # none fails alone: give up on the batch
        self._refused(bad, "cannot be encoded as JSON")
        refused = {id(m) for m in bad}
        self._inflight[:] = [m for m in self._inflight if id(m) not in refused]

    def _handle(self, exc: Exception) -> Literal["stop", "retry", "resend"]:
        """Record a failure and decide: stop the link, retry after a backoff, or resend now."""
        self._failed(exc)
        if not isinstance(exc, RemoteError) or isinstance(exc, Unauthorized):
            return "retry"  # unreachable, or our key refused: keep buffering and retrying
        if exc.invalid_token:
            if self.config.style == "callback":
                logger.warning("berryMQ peer %s closed our callback link", self.config.name)
                return "stop"
            # The peer restarted or the token expired: connect again, at once if the
            # token used to work (a fresh one refused means something else is wrong).
            worked, self.token = self._token_worked, None
            return "resend" if worked else "retry"
        batch = self._inflight
        if not batch:
            return "retry"
        if exc.code == LIMIT_EXCEEDED and len(batch) > 1:
            # Too much for the peer at once: send the first half, the rest after it.
            data = exc.data if isinstance(exc.data, dict) else {}
            limit = data.get("limit")
            if data.get("setting") == "MAX_MESSAGES_PER_CALL" and isinstance(limit, int):
                self._batch_limit = max(1, min(self._batch_limit, limit))
            keep = max(1, min(len(batch) // 2, self._batch_limit))
            self._buffer.extendleft(reversed(batch[keep:]))
            del batch[keep:]
            return "resend"
        index = _refused_index(exc)
        if index is not None and index < len(batch):
            self._refused([batch.pop(index)], exc)
            return "resend"
        # The peer refuses this batch itself; resending it would block the link.
        self._refused(list(batch), exc)
        batch.clear()
        return "resend"

    # -- pulling (style queue) ----------------------------------------------

    def _pull_loop(self) -> None:
        attempt = 0
        poll = self.config.poll_seconds
        while not self._stopping.is_set():
            try:
                if self.token is None:
                    self._connect()
                data = self.client.call("get", self.token, True, poll, timeout=poll + 10)
                self._receive(data)
                attempt = 0
            except RemoteError as exc:
                if exc.timeout:  # nothing came within the poll: the queue is fine
                    self._token_worked = True
                    self._succeeded()
                    attempt = 0
                    continue
                if self._handle(exc) == "resend":
                    continue
                attempt += 1
                self.retried += 1
                self._backoff(attempt)
            except (PeerError, OSError) as exc:
                self._failed(exc)
                attempt += 1
                self.retried += 1
                self._backoff(attempt)
            except Exception as exc:  # a bug must not silently end the link
                logger.exception("berryMQ peer %s: the puller failed", self.config.name)
                self._failed(exc)
                attempt += 1
                self._backoff(attempt)

    def _receive(self, data: Any) -> None:
        self._token_worked = True
        self._succeeded()
        try:
            message = Message.from_dict(data)
        except (TypeError, ValueError) as exc:
            with self._drop_lock:
                self.dropped += 1
            logger.error("berryMQ peer %s sent a malformed message: %s", self.config.name, exc)
            return
        backend = self.dispatcher.backend
        if backend.accept_uid(message.uid, PULL_DEDUP_SECONDS):
            self.dispatcher.send(message)
            self.sent += 1

    # -- reporting ----------------------------------------------------------

    @property
    def state(self) -> str:
        """idle, connecting, connected, retrying (the last call failed), stopped or closed."""
        if self._closed:
            return "closed"
        if self._thread is None:
            return "idle"
        if not self._thread.is_alive():
            return "stopped"
        if self.failures:
            return "retrying"
        if self.token is None or self.last_success is None:
            return "connecting"
        return "connected"

    def status(self) -> dict[str, Any]:
        return {
            "url": self.config.url,
            "style": self.config.style,
            "state": self.state,
            "buffered": len(self._buffer) + len(self._inflight),
            "sent": self.sent,
            "retried": self.retried,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "last_success": self.last_success,
        }

    def __repr__(self) -> str:
        return f"<PeerLink {self.config.name} {self.config.style} {self.config.url}>"


class Peers:
    """Every link of one dispatcher: configured peers, API-made ones and callbacks.

    On a backend shared by several processes (``backend.forwards``), a peer's
    ``interconnect`` call reaches one of them, but each process must forward
    the messages twittered in it: a thread in every process looks at the
    backend's connections every ``CALLBACK_SYNC_SECONDS`` and calls back each
    interconnected peer from there too (``sync_callbacks``).
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.self_url: str | None = None
        self._links: dict[str, PeerLink] = {}
        self._lock = threading.Lock()
        self._sync_thread: threading.Thread | None = None
        self._sync_stop = threading.Event()

    def configure(self, configs: list[PeerConfig], self_url: str | None) -> None:
        """Replace the configured links (closing the old ones)."""
        self.close()
        self.self_url = self_url
        for config in configs:
            self.add(config)

    def add(self, config: PeerConfig) -> PeerLink:
        link = PeerLink(config, self.dispatcher, self.self_url)
        with self._lock:
            old = self._links.pop(config.name, None)
            self._links[config.name] = link
        if old is not None:
            self.dispatcher.remove_relay(old)
            old.close(timeout=1.0)
        if config.style != "queue":
            self.dispatcher.add_relay(link)
        return link

    def add_callback(self, addr: str, token: str, ttl: float, principal: str) -> PeerLink | None:
        """Start calling back an interconnected peer, unless a configured link already does."""
        with self._lock:
            if any(
                link.config.url == addr and link.config.style != "callback"
                for link in self._links.values()
            ):
                return None
        config = PeerConfig(
            name=callback_name(principal, addr), url=addr, style="callback", ttl=ttl, token=token
        )
        link = self.add(config)
        link.start()  # connect at once: the peer expects our messages from now on
        return link

    def remove(self, name: str) -> bool:
        with self._lock:
            link = self._links.pop(name, None)
        if link is None:
            return False
        self.dispatcher.remove_relay(link)
        link.close()
        return True

    def links(self) -> list[PeerLink]:
        with self._lock:
            return list(self._links.values())

    def start(self) -> None:
        """Start every link that works without a first message (queue pullers, interconnects)."""
        for link in self.links():
            if link.config.style in ("queue", "interconnect"):
                link.start()
        if self.dispatcher.backend.forwards:
            with self._lock:
                if self._sync_thread is None:
                    self._sync_thread = threading.Thread(
                        target=self._sync_loop, name="berrymq-peer-callbacks", daemon=True
                    )
                    self._sync_thread.start()

    def sync_callbacks(self) -> None:
        """Call back every peer interconnected with this site, whichever process it called."""
        latest: dict[str, Connection] = {}
        for connection in self.dispatcher.backend.connections():
            if connection.style != "interconnect" or not (
                connection.addr and connection.remote_token
            ):
                continue  # not someone's interconnect (ours for callbacks carry no remote token)
            name = callback_name(connection.principal, connection.addr)
            if name not in latest or connection.expires_at > latest[name].expires_at:
                latest[name] = connection  # the one the peer used last
        with self._lock:
            links = dict(self._links)
        for name, connection in latest.items():
            link = links.get(name)
            if link is None or link.config.token != connection.remote_token:
                assert connection.addr is not None and connection.remote_token is not None
                self.add_callback(
                    connection.addr, connection.remote_token, connection.ttl, connection.principal
                )
        for name, link in links.items():
            if link.config.style == "callback" and name not in latest:
                self.remove(name)  # the peer closed it (through another process)

    def _sync_loop(self) -> None:
        failing = False
        while True:
            try:
                self.sync_callbacks()
                failing = False
            except Exception as exc:  # the backend is unreachable for now: try again later
                if not failing:
                    logger.warning("berryMQ peers: cannot read the backend's connections: %s", exc)
                failing = True
            if self._sync_stop.wait(CALLBACK_SYNC_SECONDS):
                return

    def status(self) -> dict[str, Any]:
        return {link.config.name: link.status() for link in self.links()}

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            links, self._links = list(self._links.values()), {}
        for link in links:
            self.dispatcher.remove_relay(link)
        deadline = time.monotonic() + timeout
        for link in links:
            link.close(max(0.0, deadline - time.monotonic()))

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._sync_thread = None
        self._sync_stop = threading.Event()
        for link in self._links.values():
            link.after_fork()


def callback_name(principal: str, addr: str) -> str:
    """Name the callback link of principal's interconnect from addr."""
    return f"callback:{principal}@{addr}"


_registries: weakref.WeakKeyDictionary[Dispatcher, Peers] = weakref.WeakKeyDictionary()


def peers_for(dispatcher: Dispatcher) -> Peers:
    """Return the Peers of a dispatcher, creating it on first use."""
    peers = _registries.get(dispatcher)
    if peers is None:
        peers = _registries.setdefault(dispatcher, Peers(dispatcher))
    return peers


def _after_fork_in_child() -> None:
    for peers in list(_registries.values()):
        peers.after_fork()


def _at_exit() -> None:
    for peers in list(_registries.values()):
        peers.close(timeout=5.0)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
