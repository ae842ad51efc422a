"""Dispatcher: routes every message to its followers, queues, backend and relays.

Every way in goes through one delivery path::

    twitter / atwitter / talk   a message made here
    send(message)               a message made elsewhere (RPC, a peer), as if made here
                                (forward=False: this process's followers only)
    receive(message)            a message from another process (the transport):
                                local followers only, never forwarded again

    -> route (cached) -> _run (or _arun, or _answer for talk) -> _attempt for each
                         Subscription: deliver, then count it in the figures
                      -> _forward (onward.py): backend.publish + every relay, or the
                         forwarder that takes their place, for non-local messages

and one error rule, ``_failed``: a follower's exception (its guard's too) is
counted and described in the figures, then re-raised to the sender when
``raise_errors`` is on *and* the sender is waiting for the delivery;
everywhere else (the pool, messages from other processes, raise_errors off)
it is logged and counted in ``error_count``, and the next follower runs.

Figures (core/figures.py): ``self.figures`` counts messages sent, deliveries
and errors; each Subscription's ``figures`` its own deliveries, errors, time
and last error. Counters are bumped without a lock (a rare lost increment
under a race is accepted); the time spent in followers is measured with two
perf_counter() calls per delivery while ``follower_timing`` is on.

Routing is decided once per identifier (a cached Route, dropped by any
subscribe): the hot path is one dict lookup, one Message, a loop of calls.

Thread safety: one lock, ``self._lock``, guards the registry, the shared
queue table, the relays and writes of ``self._routes``. twitter() reads
``self._routes`` without the lock; writers replace the dict rather than
mutate entries, so a reader always sees a complete Route. No follower code
and no backend I/O ever runs under the lock. A fork takes the lock first,
so the child never inherits it held.
Weak references are swept lazily (see ``Registrations``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter, time
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async

from .figures import BusFigures, FollowerFigures
from .group_delivery import GroupDelivery
from .identifier import Identifier, parse_identifier
from .lifecycle import lifecycle
from .local import LocalBackend
from .message import Message
from .onward import Onward
from .pool import DeliveryPool
from .subscription import SKIPPED, Registry, dotted_name

if TYPE_CHECKING:
    from .contracts import Backend, Store

__all__ = ["Dispatcher", "default_node_name", "dotted_name"]

logger = logging.getLogger("berrymq")
_new = object.__new__


def default_node_name() -> str:
    """Return the node name used when none is configured: "<hostname>-<pid>"."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Dispatcher(Onward, GroupDelivery):
    """Deliver messages to followers and queues, and hand non-local ones onward.

    Registration (register_function, register_method, unregister, queues,
    show_followers, isolate, ...) comes from ``Registrations``; the delivery
    rule from ``Delivery``; running a follower group's members (receive_group)
    from ``GroupDelivery``; forwarding from ``Onward``. ``figures``:
    BusFigures; ``sub.figures``: FollowerFigures.
    """

    def __init__(
        self,
        node_name: str | None = None,
        backend: Backend | None = None,
        raise_errors: bool = False,
        follower_timing: bool = True,
    ) -> None:
        super().__init__()
        self._pool: DeliveryPool | None = None
        self._named = node_name is not None  # a default name follows the pid after fork
        self.node_name = node_name or default_node_name()
        self.raise_errors = raise_errors
        self.error_count = 0
        self.figures = BusFigures()
        # Whether _attempt measures the seconds spent in each follower call.
        self.follower_timing = follower_timing
        self.backend: Backend = backend if backend is not None else LocalBackend()
        self.backend.bind(self)

    # -- configuration ------------------------------------------------------

    def configure(
        self,
        *,
        node_name: str | None = None,
        backend: Backend | None = None,
        raise_errors: bool | None = None,
        follower_timing: bool | None = None,
    ) -> None:
        """Change the node name, backend, error policy or follower timing of a running dispatcher.

        A replaced backend is closed after the new one is bound.
        """
        if node_name is not None:
            self.node_name, self._named = node_name, True
        if raise_errors is not None:
            self.raise_errors = raise_errors
        if follower_timing is not None:
            self.follower_timing = follower_timing
        if backend is not None and backend is not self.backend:
            old, self.backend = self.backend, backend
            backend.bind(self)
            old.close()
            with self._lock:
                self._invalidate()
                joins = [(g, Identifier(p)) for g, p in self._members]
            for group, pattern in joins:  # the new backend learns this process's groups
                self._join_group(group, pattern)

    def use_default_node_name(self) -> None:
        """Name this node "<hostname>-<pid>", anew in each forked child (no NODE_NAME)."""
        self.node_name, self._named = default_node_name(), False

    def set_multiplicity(self, n: int) -> None:
        """Deliver on a pool of n threads (twitter returns at once); 0: deliver in the caller.

        Raises TypeError or ValueError naming a bad n. Messages already handed
        to the old pool are delivered before this returns.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Multiplicity must be an int, not {type(n).__name__} ({n!r}).")
        if n < 0:
            raise ValueError(f"Multiplicity must be 0 or more, not {n!r}.")
        old = self._pool
        self._pool = lifecycle.add(DeliveryPool(n)) if n else None  # type: ignore[assignment]
        if old is not None:
            lifecycle.discard(old)
            old.stop(float("inf"))

    @property
    def multiplicity(self) -> int:
        pool = self._pool
        return pool.size if pool is not None else 0

    # -- sending ------------------------------------------------------------

    def twitter(self, identifier: str, /, *args: Any, **kwargs: Any) -> Message:
        """Send a message to every matching follower and queue; return it.

        Raises TypeError/ValueError naming a malformed identifier before
        anything is delivered.
        """
        if self._dead:
            self._sweep()
        try:
            route = self._routes[identifier]
        except (KeyError, TypeError):
            route = self._route(identifier)
        # Message(identifier, args, kwargs, self.node_name) without the cost of calling
        # a class: this is the hot path. tests/core/test_message.py checks every slot is set.
        message = _new(Message)
        message.id = identifier
        message.args = args
        message._kwargs = kwargs or None
        message.origin = self.node_name
        message._uid = message.reply_to = None
        figures = self.figures
        timing = self.follower_timing
        if timing:
            # One clock reading is both the message's timestamp and the first follower's
            # start (see BusFigures.wall_offset); each later reading ends one call and
            # starts the next.
            start = perf_counter()
            message.timestamp = now = start + figures.wall_offset
        else:
            message.timestamp = now = time()
        if now >= figures.minute_end:
            figures.roll(now)
        figures.sent += 1
        pool = self._pool
        if pool is None or not pool.submit(self._run, route, message, False):
            # _run with _attempt inlined: this is the hot path.
            for sub in route.subscriptions:
                counts = sub.figures
                try:
                    try:
                        result = sub.deliver(message)
                    finally:
                        if timing:
                            end = perf_counter()
                            counts.seconds += end - start
                            start = end
                except Exception as exc:
                    self._failed(sub, message, exc, True)
                    if timing:
                        start = perf_counter()  # reporting the error is nobody's time
                    continue
                if result is not SKIPPED:
                    counts.delivered += 1
                    figures.delivered += 1
        if route.forward:
            self._forward(message)
        return message

    def send(self, message: Message, *, forward: bool = True) -> None:
        """Send a message built elsewhere (an RPC client's, a peer's) as if twittered here.

        Local followers and queues get it, and a non-local one goes on to the
        backend and the relays, keeping its uid and origin (unless forward is
        False: the outbox sends it on itself). A message with ``reply_to`` is a
        talk() request: followers here answer it too.
        """
        if self._deliver_sent(message) and forward:
            self._forward(message)

    def send_many(self, messages: Sequence[Message]) -> None:
        """send() each message, in order; the non-local ones then go onward together.

        A relay with ``relay_many(messages)`` (the peer links) gets them in one
        call, in order; others get ``relay()`` per message. Should a follower's
        error reach the caller (``raise_errors``), what was delivered before
        it still goes onward.
        """
        onward: list[Message] = []
        try:
            for message in messages:
                if self._deliver_sent(message):
                    onward.append(message)
        finally:
            if onward:
                self._forward_many(onward)

    def _deliver_sent(self, message: Message) -> bool:
        """Deliver a message built elsewhere here; return whether it goes onward."""
        if self._dead:
            self._sweep()
        route = self._lookup(message.id)
        self._count_sent(time())
        if message.reply_to is not None:
            self._answer(route, message, waiting=True)
        else:
            pool = self._pool
            if pool is None or not pool.submit(self._run, route, message, False):
                self._run(route, message, True)
        return route.forward

    def receive(self, message: Message) -> None:
        """Deliver a message from another process to local followers only.

        The transport calls this; the message is not handed back to the
        backend or the relays (the process that sent it did that), and a
        follower's error is logged and counted, never raised into the
        transport's thread.
        """
        if self._dead:
            self._sweep()
        route = self._lookup(message.id)
        self._roll(time())
        if message.reply_to is not None:
            self._answer(route, message, waiting=False)
        else:
            self._run(route, message, False)

    async def atwitter(self, identifier: str, /, *args: Any, **kwargs: Any) -> Message:
        """Send from async code: await async followers, run sync ones in a thread."""
        if self._dead:
            self._sweep()
        route = self._lookup(identifier)
        message = Message(identifier, args, kwargs, self.node_name)
        self._count_sent(message.timestamp)
        await self._arun(route, message)
        if route.forward:
            if self._forwarder is None:
                self._forward(message)
            else:  # a forwarder may block (the outbox writes to its database)
                await sync_to_async(self._forward)(message)
        return message

    def talk(
        self, identifier: str, callback_identifier: str, /, *args: Any, **kwargs: Any
    ) -> list[Any]:
        """Call each follower of identifier; send each result to callback_identifier.

        Every result r goes out as twitter(callback_identifier, r,
        in_reply_to=<the request's uid>). Return the results of this process's
        followers in follower order; followers in other processes (through a
        shared backend or peers) reply by message only.
        """
        parse_identifier(callback_identifier)  # fail before anything is delivered
        if self._dead:
            self._sweep()
        route = self._lookup(identifier)
        message = Message(identifier, args, kwargs, self.node_name, reply_to=callback_identifier)
        self._count_sent(message.timestamp)
        results = self._answer(route, message, waiting=True)
        if route.forward:
            self._forward(message)
        return results

    def reset(self) -> None:
        """Remove every follower and queue and zero the counters."""
        with self._lock:
            self._registry = Registry()
            self._shared = {}
            self._recount_members_locked()
            self._invalidate()
        self._apply_group_changes()
        self.error_count = 0
        self.figures.clear()

    @contextmanager
    def isolate(self) -> Iterator[Dispatcher]:
        """Run a block with no subscriptions and fresh figures; restore the previous ones after."""
        with self._lock:
            saved = (self._registry, self._shared, self.error_count, self.raise_errors)
            figures, self.figures = self.figures, BusFigures()
            self._registry, self._shared = Registry(), {}
            self._recount_members_locked()
            self._invalidate()
        self._apply_group_changes()
        try:
            yield self
        finally:
            with self._lock:
                self._registry, self._shared, self.error_count, self.raise_errors = saved
                self.figures = figures
                self._recount_members_locked()
                self._invalidate()
            self._apply_group_changes()

    # -- what Registrations asks ----------------------------------------------

    def shared_store_for(self, identifier: Identifier, maxsize: int) -> Store:
        return self.backend.shared_store(identifier, maxsize)

    # -- fork ---------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        if not self._named:
            self.node_name = default_node_name()  # the child is another node
        # Figures are per process: the child counts from zero, with locks of its own
        # (another thread of the parent may have held the figures' lock at the fork).
        self.figures = BusFigures()
        for sub in self._registry.subscriptions.values():
            sub.figures = FollowerFigures()
