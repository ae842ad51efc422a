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
Threads start lazily, restart after fork and flush at exit within a bound.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from ..backends.base import Connection, new_token
from ..core.identifier import Identifier, parse_identifier
from ..core.message import Message
from ..core.store import Empty
from .client import PeerError, RemoteError, RPCClient, Unauthorized
from .protocol import INVALID_TOKEN

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher

__all__ = [
    "LinkStyle",
    "PeerConfig",
    "PeerLink",
    "Peers",
    "RemoteQueue",
    "callback_name",
    "peers_for",
]

logger = logging.getLogger("berrymq.peers")

LinkStyle = Literal["oneway", "interconnect", "queue", "callback"]

#: Principal of the callback connections we open for interconnected peers.
CALLBACK_PRINCIPAL_PREFIX = "peer:"
#: How long a pulled message's uid is remembered, so a redelivery is not sent twice.
PULL_DEDUP_SECONDS = 600.0


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
    max_backoff: float = 30.0
    #: For style "callback": the token the peer gave us (also our credential).
    token: str | None = None


class PeerLink:
    """One connection to one peer: a relay for outgoing messages, or a queue puller."""

    def __init__(self, config: PeerConfig, dispatcher: Dispatcher, self_url: str | None) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.self_url = self_url
        credential = config.token if config.style == "callback" else config.api_key
        self.client = RPCClient(config.url, credential, timeout=config.timeout)
        self.peer_node: str | None = None
        self._reset()
        # Counters for status(); written by the link's thread.
        self.sent = self.retried = self.dropped = 0
        self.last_error: str | None = None
        self.last_success: float | None = None

    def _reset(self) -> None:
        """(Re)create the thread state; a forked child starts from here."""
        self.token: str | None = self.config.token
        self.callback_token: str | None = None
        self._buffer: deque[Message] = deque()
        self._inflight: list[Message] = []
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- the relay side -----------------------------------------------------

    def relay(self, message: Message) -> None:
        """Queue a non-local message for the peer, unless it came from there or is not wanted."""
        if self.config.style == "queue" or message.origin == self.peer_node:
            return
        if not any(pattern.matches(message.id) for pattern in self.config.forward):
            return
        self.enqueue(message)

    def enqueue(self, message: Message) -> None:
        buffer = self._buffer
        if len(buffer) + len(self._inflight) >= self.config.buffer_size:
            with contextlib.suppress(IndexError):
                buffer.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning(
                        "berryMQ peer %s: buffer full (%d); dropped %d message(s) so far",
                        self.config.name,
                        self.config.buffer_size,
                        self.dropped,
                    )
        buffer.append(message)
        if self._thread is None:
            self.start()
        if not self._wakeup.is_set():
            self._wakeup.set()

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
        if self._thread is not None:
            self._thread.join(timeout)
        if self.token and self.config.style != "callback":
            with contextlib.suppress(PeerError):
                self.client.call("close_connection", self.token, timeout=min(timeout, 2.0))
        self.client.close()

    def after_fork(self) -> None:
        # The parent keeps sending what it buffered; the child starts empty.
        self._reset()
        self.client = RPCClient(
            self.config.url,
            self.config.token if self.config.style == "callback" else self.config.api_key,
            timeout=self.config.timeout,
        )

    # -- connecting ---------------------------------------------------------

    def _connect(self) -> None:
        config = self.config
        if config.style == "callback":
            raise RemoteError(INVALID_TOKEN, "invalid token")  # we cannot make a new one
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
        delay = random.uniform(0, min(self.config.max_backoff, 0.05 * 2**attempt))
        self._stopping.wait(delay)

    def _failed(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        logger.warning("berryMQ peer %s: %s", self.config.name, self.last_error)

    # -- sending ------------------------------------------------------------

    def _send_loop(self) -> None:
        attempt = 0
        keepalive = max(1.0, self.config.ttl / 3)
        last_call = float("-inf")  # connect at once: an interconnected peer waits for us
        if self.config.style == "callback":
            self._learn_node()
        while True:
            if not self._inflight and not self._buffer:
                if self._stopping.is_set():
                    return
                self._wakeup.wait(keepalive)
                self._wakeup.clear()
                if not self._buffer and time.monotonic() - last_call < keepalive:
                    continue
            elif not self._inflight and len(self._buffer) < self.config.batch_size:
                # Let a batch gather for a moment: fewer, fuller requests.
                self._stopping.wait(self.config.flush_interval)
            try:
                if self.token is None:
                    self._connect()
                self._flush()
                last_call = time.monotonic()
                attempt = 0
            except (PeerError, OSError) as exc:
                if self._handle(exc):
                    return
                attempt += 1
                self.retried += 1
                if self._stopping.is_set() and attempt > 3:
                    return  # exiting: give up after a few quick tries
                self._backoff(attempt)

    def _flush(self) -> None:
        if not self._inflight:
            buffer, batch, peer = self._buffer, self._inflight, self.peer_node
            for _ in range(min(len(buffer), self.config.batch_size)):
                message = buffer.popleft()
                # Checked again here: the peer's name may have been learnt since relay().
                if message.origin != peer:
                    batch.append(message)
        batch = self._inflight
        self.client.call("send_messages", self.token, [m.to_dict() for m in batch])
        self.sent += len(batch)
        batch.clear()
        self.last_success = time.time()

    def _handle(self, exc: Exception) -> bool:
        """Record a failure and decide what to do; return True to stop the link."""
        self._failed(exc)
        if isinstance(exc, RemoteError) and exc.invalid_token:
            if self.config.style == "callback":
                logger.warning("berryMQ peer %s closed our callback link", self.config.name)
                return True
            self.token = None  # the peer restarted or the token expired: connect again
        elif isinstance(exc, RemoteError) and not isinstance(exc, Unauthorized) and self._inflight:
            # The peer refuses this batch itself; resending it would block the link.
            self.dropped += len(self._inflight)
            logger.error(
                "berryMQ peer %s refused %d message(s): %s",
                self.config.name,
                len(self._inflight),
                exc,
            )
            self._inflight.clear()
        return False

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
                if exc.timeout:
                    self.last_success = time.time()
                    continue
                self._handle(exc)
                attempt += 1
                self._backoff(attempt)
            except (PeerError, OSError) as exc:
                self._failed(exc)
                attempt += 1
                self.retried += 1
                self._backoff(attempt)

    def _receive(self, data: Any) -> None:
        try:
            message = Message.from_dict(data)
        except (TypeError, ValueError) as exc:
            self.dropped += 1
            self._failed(exc)
            return
        self.last_success = time.time()
        backend = self.dispatcher.backend
        if backend.accept_uid(message.uid, PULL_DEDUP_SECONDS):
            self.dispatcher.send(message)
            self.sent += 1

    # -- reporting ----------------------------------------------------------

    @property
    def state(self) -> str:
        if self._thread is None:
            return "idle"
        if not self._thread.is_alive():
            return "stopped"
        if self.token is None or (self.last_error and not self.last_success):
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


class RemoteQueue:
    """A queue on another site, pulled over JSON-RPC (berryMQ's style 03)."""

    def __init__(
        self,
        url: str,
        identifier: str,
        ttl: float = 1000.0,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        parse_identifier(identifier)
        self.url = url
        self.identifier = identifier
        self._client = RPCClient(url, api_key, timeout=timeout)
        self.token: str | None = self._client.call("connect_via_queue", identifier, ttl)

    def get(self, block: bool = True, timeout: float | None = None) -> Message:
        """Take the oldest message, waiting up to timeout (the server caps each wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                data = self._client.call(
                    "get",
                    self._token(),
                    block,
                    remaining,
                    timeout=(remaining or 30.0) + 10.0,
                )
                return Message.from_dict(data)
            except RemoteError as exc:
                if not exc.timeout:
                    raise
                if not block or (deadline is not None and time.monotonic() >= deadline):
                    raise Empty from None

    def get_nowait(self) -> Message:
        return self.get(block=False)

    def _token(self) -> str:
        if self.token is None:
            raise PeerError(f"the queue connection to {self.url} is closed")
        return self.token

    def close(self) -> None:
        """Close the queue on the server and forget the token."""
        if self.token is not None:
            with contextlib.suppress(PeerError):
                self._client.call("close_connection", self.token)
            self.token = None
        self._client.close()

    def __enter__(self) -> RemoteQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Peers:
    """Every link of one dispatcher: configured peers, API-made ones and callbacks."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.self_url: str | None = None
        self._links: dict[str, PeerLink] = {}
        self._lock = threading.Lock()

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
        return self.add(config)

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
