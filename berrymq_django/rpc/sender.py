"""A peer link that sends: batches, retries, order, handover.

``PeerLink`` carries this site's non-local messages to one peer (styles
oneway, interconnect and callback; see link.py for the styles). Sending
never gets in the way of twitter(): the registry's relay puts an
``Outgoing`` in a bounded buffer and the link's thread batches messages
into ``send_messages`` calls, retrying with exponential backoff and jitter.
Order is kept (the batch in flight is retried before anything newer), the
receiver's uid dedup makes retries exactly-once, and when the buffer is
full the oldest messages are dropped, counted and logged, never silently.
A message the peer refuses (too big for its limits, invalid there) is
dropped alone, counted and logged; the rest of its batch goes on (see
retry.py for every rule).

A link that replaces another of the same name (``take_over``) sends what
the old one still held first, in its order; a call-back link that the peer
interconnects with again keeps its buffer and changes its token
(``retarget``).

Threads: ``enqueue()``/``put()`` run in any thread (the twitterers'); the
link's own thread owns ``_inflight``. The buffer is a deque, whose append
and popleft need no lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from typing import Any

from ..core.identifier import parse_identifier
from ..core.message import Message
from .client import PeerError, RPCClient
from .link import BaseLink
from .retry import decide, unencodable

__all__ = ["INTERCONNECT_KEEPALIVE_SECONDS", "Outgoing", "PeerLink", "wire_form"]

logger = logging.getLogger("berrymq.peers")

#: An idle interconnect calls its peer this often at least, so a restarted peer
#: learns again within this time that it should call us back.
INTERCONNECT_KEEPALIVE_SECONDS = 10.0
#: Failed attempts after which a stopping link gives up before its deadline.
STOP_ATTEMPTS = 3
#: Bound on the per-link cache of "does FORWARD want this identifier".
_MAX_CACHED_DECISIONS = 10_000


class Outgoing:
    """A message on its way to peers, with the sites that have it (or are being sent it).

    One is shared by every link the message goes to, so its wire form is
    made once, by the first link that sends it.
    """

    __slots__ = ("_wire", "message", "seen")

    def __init__(self, message: Message, seen: tuple[str, ...] = ()) -> None:
        self.message = message
        self.seen = seen
        self._wire: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        """Return the message's wire form (see wire_form), made on first use."""
        wire = self._wire
        if wire is None:
            wire = self._wire = wire_form(self.message, self.seen)
        return wire


def wire_form(message: Message, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return a message as send_messages carries it: empty args, kwargs and seen left out."""
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
    if seen:
        data["seen"] = seen
    return data


class PeerLink(BaseLink):
    """A link that sends this site's messages to one peer, in order, exactly once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._wanted: dict[str, bool] = {}
        super().__init__(*args, **kwargs)
        self._forward_all = any(
            p.namespace is None and p.name == "*" and p.action == "*" for p in self.config.forward
        )

    def _reset(self) -> None:
        super()._reset()
        config = self.config
        self._buffer: deque[Outgoing] = deque()
        self._inflight: list[Outgoing] = []
        # At most half the buffer in flight, so that a full buffer drops the oldest
        # *buffered* messages, never the batch being retried.
        self._batch_limit = max(1, min(config.batch_size, config.buffer_size // 2))
        # Links this one replaced: their unsent messages go first (see take_over).
        self._predecessors: list[PeerLink] = []
        self._successor: PeerLink | None = None  # set once replaced: late messages go there
        self._generation = 0  # bumped by retarget: a call made before it is retried, not judged

    # -- the relay side -----------------------------------------------------

    def wants(self, identifier: str) -> bool:
        """Return whether FORWARD lets identifier through to this peer (decided once each)."""
        wanted = self._wanted.get(identifier)
        return self._wants(identifier) if wanted is None else wanted

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

    def enqueue(self, message: Message, seen: tuple[str, ...] = ()) -> None:
        """Buffer a message for the peer; when full, drop the oldest (counted, logged).

        ``seen`` names the sites that have the message, or are being sent it,
        already: the peer forwards it to none of them.
        """
        self.put(Outgoing(message, seen))

    def put(self, item: Outgoing) -> None:
        """Buffer an Outgoing (which other links may hold too); see enqueue."""
        successor = self._successor
        if successor is not None:  # replaced while the sender held the old link
            successor.put(item)
            return
        buffer = self._buffer
        if len(buffer) + len(self._inflight) >= self.config.buffer_size and not self._drop_oldest():
            return  # all it holds is the batch in flight: this one is the message dropped
        buffer.append(item)
        if not self._wakeup.is_set():
            self._wakeup.set()

    def put_many(self, items: list[Outgoing]) -> None:
        """put() each of items, in order, with one check of the room left."""
        buffer = self._buffer
        if (
            self._successor is not None
            or len(buffer) + len(self._inflight) + len(items) > self.config.buffer_size
        ):
            for item in items:  # replaced, or full: the rules of put(), one by one
                self.put(item)
            return
        buffer.extend(items)
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
            ", ".join(sorted({message.id for message in messages})),
            why,
        )

    # -- handover -----------------------------------------------------------

    def _runs(self) -> bool:
        return self._successor is None  # replaced: never runs again

    def _run(self) -> None:
        self._send_loop()

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
        taken: list[Outgoing] = []
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

    @property
    def buffered(self) -> int:
        """Messages held for the peer (those of replaced links included)."""
        held = len(self._buffer) + len(self._inflight)
        return held + sum(len(old._buffer) + len(old._inflight) for old in self._predecessors)

    def _discard(self) -> None:
        for old in self._predecessors:
            old._buffer.clear()
            old._inflight = []
        self._buffer.clear()
        self._inflight = []

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
                item = buffer.popleft()
                # Checked again here: the peer's name may have been learnt since relay().
                if item.message.origin != peer:
                    batch.append(item)
        # Encoded here, a batch in one go: cheaper than message by message at relay time.
        payload = [item.wire() for item in batch]
        try:
            self.client.call("send_messages", self.token, payload, timeout=self._call_timeout())
        except TypeError:  # orjson cannot encode a message (an int beyond 64 bits, say)
            bad = unencodable(batch, payload)
            self.refused([item.message for item in bad], "cannot be encoded as JSON")
            dropped = {id(item) for item in bad}
            batch[:] = [item for item in batch if id(item) not in dropped]
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
            self.refused([item.message for item in decision.refused], exc)
            refused = {id(item) for item in decision.refused}
            batch[:] = [item for item in batch if id(item) not in refused]
        return self._follow(decision)
