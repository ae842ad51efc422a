"""Dispatcher: routes every message to its followers, queues, backend and relays.

Every way in goes through one delivery path::

    twitter / atwitter / talk   a message made here
    send(message)               a message made elsewhere (RPC, a peer), as if made here
                                (forward=False: this process's followers only)
    receive(message)            a message from another process (the transport):
                                local followers only, never forwarded again

    -> route (cached) -> _run (or _arun, or _answer for talk) -> each Subscription.deliver
                      -> _forward (onward.py): backend.publish + every relay, or the
                         forwarder that takes their place, for non-local messages

and one error rule, ``_failed``: a follower's exception (its guard's too) is
re-raised to the sender when ``raise_errors`` is on *and* the sender is
waiting for the delivery; everywhere else (the pool, messages from other
processes, raise_errors off) it is logged and counted in ``error_count``,
and the next follower runs.

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import sync_to_async

from .exceptions import FollowerFailed
from .identifier import Identifier, parse_identifier
from .lifecycle import lifecycle
from .local import LocalBackend
from .message import Message
from .onward import Onward
from .pool import DeliveryPool
from .registrations import Registrations
from .subscription import SKIPPED, Registry, Route, Subscription, dotted_name

if TYPE_CHECKING:
    from .contracts import Backend, GroupTransport, Store

__all__ = ["Dispatcher", "default_node_name", "dotted_name"]

logger = logging.getLogger("berrymq")


def default_node_name() -> str:
    """Return the node name used when none is configured: "<hostname>-<pid>"."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Dispatcher(Onward, Registrations):
    """Deliver messages to followers and queues, and hand non-local ones onward.

    Registration (register_function, register_method, unregister, queues,
    show_followers, isolate, ...) comes from ``Registrations``.
    """

    def __init__(
        self,
        node_name: str | None = None,
        backend: Backend | None = None,
        raise_errors: bool = False,
    ) -> None:
        super().__init__()
        self._pool: DeliveryPool | None = None
        self._named = node_name is not None  # a default name follows the pid after fork
        self.node_name = node_name or default_node_name()
        self.raise_errors = raise_errors
        self.error_count = 0
        self.backend: Backend = backend if backend is not None else LocalBackend()
        self.backend.bind(self)

    # -- configuration ------------------------------------------------------

    def configure(
        self,
        *,
        node_name: str | None = None,
        backend: Backend | None = None,
        raise_errors: bool | None = None,
    ) -> None:
        """Change the node name, backend or error policy of a running dispatcher.

        A replaced backend is closed after the new one is bound.
        """
        if node_name is not None:
            self.node_name, self._named = node_name, True
        if raise_errors is not None:
            self.raise_errors = raise_errors
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
        message = Message(identifier, args, kwargs, self.node_name)
        pool = self._pool
        if pool is None or not pool.submit(self._run, route, message, False):
            # _run inlined: this is the hot path.
            for deliver in route.delivers:
                try:
                    deliver(message)
                except Exception as exc:
                    self._failed(route.owner_of(deliver), message, exc, True)
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
        if self._dead:
            self._sweep()
        route = self._lookup(message.id)
        if message.reply_to is not None:
            self._answer(route, message, waiting=True)
        else:
            pool = self._pool
            if pool is None or not pool.submit(self._run, route, message, False):
                self._run(route, message, True)
        if forward and route.forward:
            self._forward(message)

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
        if message.reply_to is not None:
            self._answer(route, message, waiting=False)
        else:
            self._run(route, message, False)

    def receive_group(self, group: str, message: Message) -> int:
        """Run this process's members of group that match message; return how many ran.

        A backend that distributes groups calls this in the one process that
        took the message. 0 means no member here (the backend may hand the
        message to another process). A talk() request is answered as usual.
        Raises ``FollowerFailed`` (its cause the follower's exception) when a
        member raised, after every member had its turn; logged and counted too.
        """
        if self._dead:
            self._sweep()
        ident = parse_identifier(message.id)
        with self._lock:  # the registry changes under the lock only
            members = tuple(s for s in self._registry.matching(ident) if s.group == group)
        failure: Exception | None = None
        results: list[Any] = []
        for sub in members:
            try:
                result = sub.deliver(message)
            except Exception as exc:
                self._failed(sub, message, exc, False)
                failure = exc
                continue
            if result is not SKIPPED:
                results.append(result)
        if message.reply_to is not None:
            for result in results:
                self.twitter(message.reply_to, result, in_reply_to=message.uid)
        if failure is not None:
            raise FollowerFailed(group, message.id, failure) from failure
        return len(members)

    async def atwitter(self, identifier: str, /, *args: Any, **kwargs: Any) -> Message:
        """Send from async code: await async followers, run sync ones in a thread."""
        if self._dead:
            self._sweep()
        route = self._lookup(identifier)
        message = Message(identifier, args, kwargs, self.node_name)
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
        results = self._answer(route, message, waiting=True)
        if route.forward:
            self._forward(message)
        return results

    # -- the delivery path ----------------------------------------------------

    def _run(self, route: Route, message: Message, waiting: bool) -> None:
        """Deliver to every subscription of route, containing each failure."""
        for deliver in route.delivers:
            try:
                deliver(message)
            except Exception as exc:
                self._failed(route.owner_of(deliver), message, exc, waiting)

    async def _arun(self, route: Route, message: Message) -> None:
        """_run for async senders: async followers awaited, sync ones batched in a thread."""
        batch: list[Subscription] = []
        for sub in route.subscriptions:
            if sub.kind == "queue":
                self._call(sub, message, True)  # never blocks
            elif not sub.is_async:
                batch.append(sub)
            else:
                if batch:
                    await sync_to_async(self._run_batch)(batch, message)
                    batch = []
                try:
                    await sub.adeliver(message)
                except Exception as exc:
                    self._failed(sub, message, exc, True)
        if batch:
            await sync_to_async(self._run_batch)(batch, message)

    def _run_batch(self, batch: list[Subscription], message: Message) -> None:
        for sub in batch:
            self._call(sub, message, True)

    def _call(self, sub: Subscription, message: Message, waiting: bool) -> Any:
        """Deliver to one subscription; return its result, or SKIPPED on failure."""
        try:
            return sub.deliver(message)
        except Exception as exc:
            self._failed(sub, message, exc, waiting)
            return SKIPPED

    def _answer(self, route: Route, message: Message, *, waiting: bool) -> list[Any]:
        """Call the followers of a talk() request; send and return their results."""
        results = []
        for sub in route.subscriptions:
            result = self._call(sub, message, waiting)
            if sub.kind != "queue" and result is not SKIPPED:
                results.append(result)
        assert message.reply_to is not None
        for result in results:
            self.twitter(message.reply_to, result, in_reply_to=message.uid)
        return results

    def _failed(self, sub: Subscription, message: Message, exc: Exception, waiting: bool) -> None:
        """The one error rule: re-raise to a sender that waits, if asked; else log and count."""
        if self.raise_errors and waiting:
            raise exc
        self.error_count += 1
        logger.error(
            "berryMQ follower %s raised on message %r", sub.label, message.id, exc_info=exc
        )

    def reset(self) -> None:
        """Remove every follower and queue and zero the counters."""
        with self._lock:
            self._registry = Registry()
            self._shared = {}
            self._recount_members_locked()
            self._invalidate()
        self._apply_group_changes()
        self.error_count = 0

    @contextmanager
    def isolate(self) -> Iterator[Dispatcher]:
        """Run a block with no subscriptions; restore the previous ones afterwards."""
        with self._lock:
            saved = (self._registry, self._shared, self.error_count, self.raise_errors)
            self._registry, self._shared = Registry(), {}
            self._recount_members_locked()
            self._invalidate()
        self._apply_group_changes()
        try:
            yield self
        finally:
            with self._lock:
                self._registry, self._shared, self.error_count, self.raise_errors = saved
                self._recount_members_locked()
                self._invalidate()
            self._apply_group_changes()

    # -- what Registrations asks ----------------------------------------------

    def _distributes_groups(self) -> bool:
        return bool(getattr(self.backend, "distributes_groups", False))

    def _join_group(self, group: str, pattern: Identifier) -> None:
        if self._distributes_groups():
            cast("GroupTransport", self.backend).join_group(group, pattern)

    def _leave_group(self, group: str, pattern: Identifier) -> None:
        if self._distributes_groups():
            cast("GroupTransport", self.backend).leave_group(group, pattern)

    def shared_store_for(self, identifier: Identifier, maxsize: int) -> Store:
        return self.backend.shared_store(identifier, maxsize)

    # -- fork ---------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        if not self._named:
            self.node_name = default_node_name()  # the child is another node
