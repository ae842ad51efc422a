"""Registrations: the subscriptions of a dispatcher, their index and the route cache.

The Dispatcher inherits this half: who follows what, decided at
registration. Subscribing and unsubscribing take ``self._lock`` and drop the
route cache; routes are built under the lock and read without it (see the
dispatcher's module docstring for the rule). Weak references (method
followers, queues) are cleaned up lazily: their callback only sets
``self._dead``, and the next send or subscribe sweeps.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .identifier import Identifier, parse_identifier
from .subscription import (
    Guard,
    Registry,
    Route,
    Subscription,
    check_callable,
    check_group,
    check_guard,
    dotted_name,
    network_dot,
    same_callable,
)

if TYPE_CHECKING:
    from .contracts import Store

__all__ = ["Registrations"]

# Routes are cached by identifier text as sent, which remote senders choose: bounded.
_MAX_CACHED_ROUTES = 10_000


class Registrations:
    """Followers and queues by pattern, with a bounded cache of routes by identifier."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._registry = Registry()
        self._routes: dict[str, Route] = {}
        self._seq = 0
        self._dead = False
        self._shared: dict[str, Subscription] = {}
        # Follower groups: members per (group, pattern text), and the joins (True)
        # and leaves (False) still to tell the backend, outside the lock.
        self._members: dict[tuple[str, str], int] = {}
        self._group_changes: list[tuple[bool, str, Identifier]] = []
        _live.add(self)

    def _forwarding(self) -> bool:
        """Whether non-local messages go beyond this process; the caller holds the lock."""
        return False

    def _distributes_groups(self) -> bool:
        """Whether another part (the backend) runs grouped followers; the caller holds the lock.

        When it does, routes leave grouped followers out: the backend hands
        each message to one process per group (``receive_group``).
        """
        return False

    def _join_group(self, group: str, pattern: Identifier) -> None:
        """Tell the backend this process has a member of group following pattern."""

    def _leave_group(self, group: str, pattern: Identifier) -> None:
        """Tell the backend the last member of group following pattern here is gone."""

    def shared_store_for(self, identifier: Identifier, maxsize: int) -> Store:
        """Make the store behind shared Queues of identifier (the backend's)."""
        raise NotImplementedError

    # -- routing ------------------------------------------------------------

    def _lookup(self, identifier: str) -> Route:
        """Return the cached route, building it on a miss (twitter() inlines this)."""
        try:
            return self._routes[identifier]
        except (KeyError, TypeError):
            return self._route(identifier)

    def _route(self, identifier: str) -> Route:
        ident = parse_identifier(identifier)  # raises TypeError/ValueError naming the value
        with self._lock:
            route = self._routes.get(identifier)
            if route is None:
                subs = self._registry.matching(ident)
                if self._distributes_groups() and not ident.is_local:
                    # A local message never leaves this process: its members run here.
                    subs = tuple(s for s in subs if s.group is None)
                forward = self._forwarding() and not ident.is_local
                route = Route(subs, forward)
                if len(self._routes) >= _MAX_CACHED_ROUTES:
                    self._routes = {}
                self._routes[identifier] = route
            return route

    def wants(self, identifier: str) -> bool:
        """Return whether a message of identifier from elsewhere would reach anything here.

        A transport may skip decoding the messages nobody here wants; a
        malformed identifier is not wanted. Routes are cached: this costs one
        dict lookup once an identifier was seen.
        """
        if self._dead:
            self._sweep()
        try:
            return bool(self._lookup(identifier).subscriptions)
        except (TypeError, ValueError):
            return False

    def _invalidate(self) -> None:
        """Drop every cached route; the caller holds self._lock."""
        self._routes = {}

    def _on_dead(self, _ref: object) -> None:
        # Runs inside the garbage collector: set a flag, touch nothing else.
        self._dead = True

    def _sweep(self) -> None:
        with self._lock:
            self._sweep_locked()
        self._apply_group_changes()

    def _sweep_locked(self) -> None:
        """Drop subscriptions whose owners were collected; the caller holds self._lock."""
        self._dead = False
        dead = [s for s in self._registry.subscriptions.values() if not s.alive]
        for sub in dead:
            self._remove_locked(sub)
        self._shared = {k: s for k, s in self._shared.items() if s.alive}
        self._invalidate()

    # -- subscribing --------------------------------------------------------

    def _add(self, sub_factory: Callable[[int], Subscription]) -> Subscription:
        with self._lock:
            if self._dead:
                self._sweep_locked()
            self._seq += 1
            sub = sub_factory(self._seq)
            self._registry.add(sub)
            self._count_member(sub, +1)
            self._invalidate()
        self._apply_group_changes()
        return sub

    def _remove_locked(self, sub: Subscription) -> None:
        if sub.seq in self._registry.subscriptions:
            self._registry.remove(sub)
            self._count_member(sub, -1)

    def _count_member(self, sub: Subscription, delta: int) -> None:
        """Track group members; queue a join on the first and a leave after the last."""
        if sub.group is None:
            return
        key = (sub.group, sub.pattern.text)
        count = self._members.get(key, 0) + delta
        if count > 0:
            self._members[key] = count
        else:
            self._members.pop(key, None)
        if (delta > 0 and count == 1) or count <= 0:
            self._group_changes.append((delta > 0, sub.group, sub.pattern))

    def _recount_members_locked(self) -> None:
        """Recount members after the registry was swapped (reset, isolate)."""
        before = set(self._members)
        self._members = {}
        for sub in self._registry.subscriptions.values():
            if sub.group is not None:
                key = (sub.group, sub.pattern.text)
                self._members[key] = self._members.get(key, 0) + 1
        patterns = {
            (s.group, s.pattern.text): s.pattern for s in self._registry.subscriptions.values()
        }
        for group, text in before - set(self._members):
            self._group_changes.append((False, group, Identifier(text)))
        for key in set(self._members) - before:
            self._group_changes.append((True, key[0], patterns[key]))

    def _apply_group_changes(self) -> None:
        """Hand queued joins and leaves to the backend, outside the lock, in order."""
        if not self._group_changes:
            return
        with self._lock:
            changes, self._group_changes = self._group_changes, []
        for join, group, pattern in changes:
            if join:
                self._join_group(group, pattern)
            else:
                self._leave_group(group, pattern)

    def groups(self) -> dict[str, list[str]]:
        """Return each follower group of this process with the patterns its members follow."""
        with self._lock:
            found: dict[str, list[str]] = {}
            for group, text in self._members:
                found.setdefault(group, []).append(text)
        return found

    def register_function(
        self,
        identifier: str | Identifier,
        fn: Callable[..., Any],
        guard_condition: Guard | None = None,
        *,
        group: str | None = None,
    ) -> Callable[..., Any]:
        """Make fn (held strongly) receive messages matching identifier; return fn.

        With ``group``, fn is a member of that follower group: each matching
        message is handled by one process of the deployment (see the README's
        "Scaling out"); in one process that is this one, once.
        """
        pattern = Identifier(identifier)
        check_callable(fn, "follower")
        check_guard(guard_condition)
        check_group(group)
        self._add(
            lambda seq: Subscription(
                pattern,
                seq,
                "function",
                dotted_name(fn),
                func=fn,
                guard=guard_condition,
                group=group,
            )
        )
        return fn

    def register_method(
        self,
        identifier: str | Identifier,
        bound_method: Callable[..., Any],
        guard_condition: Guard | None = None,
        *,
        group: str | None = None,
    ) -> Callable[..., Any]:
        """Make a bound method receive messages; its instance is held weakly.

        ``group`` as for register_function.
        """
        pattern = Identifier(identifier)
        if not hasattr(bound_method, "__self__") or not hasattr(bound_method, "__func__"):
            raise TypeError(
                f"register_method() needs a bound method, not {bound_method!r}; "
                "use register_function() for plain functions."
            )
        check_guard(guard_condition)
        check_group(group)
        ref = weakref.WeakMethod(bound_method, self._on_dead)
        self._add(
            lambda seq: Subscription(
                pattern,
                seq,
                "method",
                dotted_name(bound_method),
                owners=[ref],
                guard=guard_condition,
                group=group,
            )
        )
        return bound_method

    def unregister(self, fn_or_method: Callable[..., Any]) -> bool:
        """Remove every subscription of a function or bound method; return whether any existed."""
        with self._lock:
            found = [
                s
                for s in self._registry.subscriptions.values()
                if s.kind != "queue" and same_callable(s.resolve(), fn_or_method)
            ]
            for sub in found:
                self._remove_locked(sub)
            if found:
                self._invalidate()
        self._apply_group_changes()
        return bool(found)

    def subscribe_queue(self, queue: Any, identifier: Identifier, store: Store) -> Subscription:
        """Subscribe a queue's store; the subscription lives while the queue object does."""
        ref = weakref.ref(queue, self._on_dead)
        return self._add(
            lambda seq: Subscription(
                identifier, seq, "queue", f"Queue({str(identifier)!r})", owners=[ref], store=store
            )
        )

    def shared_store(self, queue: Any, identifier: Identifier, maxsize: int) -> Store:
        """Return the one store shared by every shared Queue of identifier, subscribing it once.

        The backend is asked outside the lock (it may do I/O); if two queues
        race, the first subscription wins and the other store is closed.
        """
        key = identifier.text
        ref = weakref.ref(queue, self._on_dead)
        joined = self._join_shared(key, ref)
        if joined is not None:
            return joined
        store = self.shared_store_for(identifier, maxsize)
        label = f"Queue({key!r}, shared=True)"
        with self._lock:
            if self._dead:
                self._sweep_locked()
            sub = self._shared.get(key)
            if sub is not None and sub.alive and sub.store is not None:
                sub.add_owner(ref)  # another queue won the race
                winner = sub.store
            else:
                self._seq += 1
                sub = Subscription(identifier, self._seq, "queue", label, owners=[ref], store=store)
                self._registry.add(sub)
                self._shared[key] = sub
                self._invalidate()
                return store
        store.close()
        return winner

    def _join_shared(self, key: str, ref: weakref.ref[Any]) -> Store | None:
        with self._lock:
            if self._dead:
                self._sweep_locked()
            sub = self._shared.get(key)
            if sub is None or not sub.alive or sub.store is None:
                return None
            sub.add_owner(ref)
            return sub.store

    def unsubscribe_queue(self, queue: Any) -> bool:
        """Stop delivering to queue; return whether its store lost its last consumer.

        A shared store stays subscribed while other queues use it.
        """
        emptied = False
        with self._lock:
            for sub in list(self._registry.subscriptions.values()):
                if sub.kind != "queue" or not sub.owned_by(queue):
                    continue
                if sub.drop_owner(queue):
                    self._registry.remove(sub)
                    self._shared.pop(sub.pattern.text, None)
                    emptied = True
            self._invalidate()
        return emptied

    # -- introspection and isolation ----------------------------------------

    def subscriptions(self) -> list[Subscription]:
        """Return the live subscriptions in registration order."""
        with self._lock:
            return [s for s in self._registry.subscriptions.values() if s.alive]

    def show_followers(self) -> list[str]:
        """Return one line per subscription: "pattern -> dotted.name (kind)" [+ " [group G]"]."""
        return [s.describe() for s in self.subscriptions()]

    def show_network(self) -> str:
        """Return the follower network as Graphviz DOT source."""
        return network_dot(self.subscriptions())

    # -- fork ---------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the parent's was held across the fork


# Every instance, for the fork hooks: a fork waits for each lock, so no
# child inherits one held by a thread that does not exist there.
_live: weakref.WeakSet[Registrations] = weakref.WeakSet()


def _before_fork() -> None:
    for registrations in list(_live):
        registrations._lock.acquire()


def _after_fork_in_parent() -> None:
    for registrations in list(_live):
        registrations._lock.release()


def _after_fork_in_child() -> None:
    for registrations in list(_live):
        registrations._after_fork_in_child()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
