"""Dispatcher: routes every message to its followers, queues and backend.

Routing is decided once per identifier, not once per send: the first
twitter() of an identifier builds a Route (the matching subscriptions in
registration order, found through an index by name and action, never by
scanning every follower) and caches it. Any subscribe or unsubscribe drops
the cache. The hot path is then one dict lookup, one Message, and a loop of
plain calls.

Thread safety: one lock, ``self._lock``, guards the subscriptions, the
index, and writes of ``self._routes``. twitter() reads ``self._routes``
without the lock; writers replace the dict rather than mutate entries, so
a reader always sees a complete Route. No follower code ever runs under
the lock.

Weak references (method followers, queues) are cleaned up lazily: their
callback only sets ``self._dead``, and the next send or subscribe sweeps.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async

from .identifier import WILDCARD, Identifier, parse_identifier
from .message import Message

if TYPE_CHECKING:
    from ..backends.base import BaseBackend
    from .store import QueueStore

__all__ = ["Dispatcher", "Relay", "Route", "Subscription"]

logger = logging.getLogger("berrymq")

Kind = Literal["function", "method", "queue"]
Guard = Callable[[Message], Any]
Deliver = Callable[[Message], Any]


class Relay(Protocol):
    """Something that carries non-local messages onward, such as a peer's sender."""

    def relay(self, message: Message) -> None: ...


# The route cache is keyed by the identifier text as sent; remote senders
# could invent endless identifiers, so the cache is bounded.
_MAX_CACHED_ROUTES = 10_000


def dotted_name(obj: Any) -> str:
    """Return module.qualname of a function, method or class, for logs and tools."""
    func = getattr(obj, "__func__", obj)
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


class Subscription:
    """One follower or queue subscribed to a pattern; decided once at registration."""

    __slots__ = (
        "_func",
        "_owners",
        "deliver",
        "guard",
        "is_async",
        "kind",
        "label",
        "pattern",
        "seq",
    )

    def __init__(
        self,
        pattern: Identifier,
        seq: int,
        kind: Kind,
        label: str,
        *,
        func: Callable[..., Any] | None = None,
        owners: list[weakref.ref[Any]] | None = None,
        guard: Guard | None = None,
        store: QueueStore | None = None,
    ) -> None:
        self.pattern = pattern
        self.seq = seq
        self.kind = kind
        self.label = label
        self.guard = guard
        self._func = func  # a function held strongly, or None
        self._owners = owners  # weak references keeping this subscription alive
        if store is not None:
            self.is_async = False
            self.deliver: Deliver = store.put
            return
        resolve = self.resolve
        target = resolve()
        self.is_async = target is not None and iscoroutinefunction(target)
        if func is not None and guard is None and not self.is_async:
            self.deliver = func  # the common case: no wrapper at all
            return
        is_async = self.is_async

        def deliver(message: Message) -> Any:
            target = resolve()
            if target is None or (guard is not None and not guard(message)):
                return None
            if is_async:
                return async_to_sync(target)(message)
            return target(message)

        self.deliver = deliver

    def resolve(self) -> Callable[..., Any] | None:
        """Return the callable to invoke, or None once its owner is gone."""
        if self._func is not None:
            return self._func
        if self.kind == "queue":
            return self.deliver
        assert self._owners is not None
        return self._owners[0]()

    @property
    def alive(self) -> bool:
        owners = self._owners
        return owners is None or any(ref() is not None for ref in owners)

    def __repr__(self) -> str:
        return f"<Subscription {self.pattern} -> {self.label} ({self.kind})>"


class Route:
    """The cached delivery plan for one identifier."""

    __slots__ = ("delivers", "forward", "subscriptions")

    def __init__(self, subscriptions: tuple[Subscription, ...], forward: bool) -> None:
        self.subscriptions = subscriptions
        self.delivers = tuple(s.deliver for s in subscriptions)
        self.forward = forward


class _Registry:
    """Subscriptions in registration order plus an index by (namespace, name, action).

    Index keys put the wildcard in place, so a concrete identifier finds its
    candidates with four lookups: exact, name:*, *:action and *:*.
    """

    __slots__ = ("index", "subscriptions")

    def __init__(self) -> None:
        self.subscriptions: dict[int, Subscription] = {}
        self.index: dict[tuple[str | None, str, str], list[Subscription]] = {}

    def add(self, sub: Subscription) -> None:
        self.subscriptions[sub.seq] = sub
        p = sub.pattern
        self.index.setdefault((p.namespace, p.name, p.action), []).append(sub)

    def remove(self, sub: Subscription) -> None:
        if self.subscriptions.pop(sub.seq, None) is None:
            return
        p = sub.pattern
        key = (p.namespace, p.name, p.action)
        bucket = self.index[key]
        bucket.remove(sub)
        if not bucket:
            del self.index[key]

    def matching(self, ident: Identifier) -> tuple[Subscription, ...]:
        if ident.has_wildcard:
            # A wildcard send ("*:created") is rare: scan, the route is cached anyway.
            found = [s for s in self.subscriptions.values() if s.pattern.matches(ident)]
        else:
            ns, name, action = ident.namespace, ident.name, ident.action
            found = []
            for key in (
                (ns, name, action),
                (ns, name, WILDCARD),
                (ns, WILDCARD, action),
                (ns, WILDCARD, WILDCARD),
            ):
                found.extend(self.index.get(key, ()))
            found.sort(key=_by_seq)
        return tuple(found)


def _by_seq(sub: Subscription) -> int:
    return sub.seq


def default_node_name() -> str:
    """Return the node name used when none is configured: "<hostname>-<pid>"."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Dispatcher:
    """Deliver messages to followers and queues, and hand non-local ones to a backend."""

    def __init__(
        self,
        node_name: str | None = None,
        backend: BaseBackend | None = None,
        raise_errors: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._registry = _Registry()
        self._routes: dict[str, Route] = {}
        self._seq = 0
        self._dead = False
        self._pool: ThreadPoolExecutor | None = None
        self._shared: dict[str, Subscription] = {}
        self._relays: tuple[Relay, ...] = ()
        self.node_name = node_name or default_node_name()
        self.raise_errors = raise_errors
        self.error_count = 0
        self.backend: BaseBackend = backend if backend is not None else _memory_backend()
        self.backend.bind(self)

    # -- configuration ------------------------------------------------------

    def configure(
        self,
        *,
        node_name: str | None = None,
        backend: BaseBackend | None = None,
        raise_errors: bool | None = None,
    ) -> None:
        """Change the node name, backend or error policy of a running dispatcher."""
        if node_name is not None:
            self.node_name = node_name
        if raise_errors is not None:
            self.raise_errors = raise_errors
        if backend is not None and backend is not self.backend:
            old, self.backend = self.backend, backend
            backend.bind(self)
            old.close()
            self._invalidate()

    def set_multiplicity(self, n: int) -> None:
        """Deliver on a pool of n threads (twitter returns at once); 0: deliver in the caller."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Multiplicity must be an int, not {type(n).__name__} ({n!r}).")
        if n < 0:
            raise ValueError(f"Multiplicity must be 0 or more, not {n!r}.")
        old = self._pool
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="berrymq") if n else None
        if old is not None:
            old.shutdown(wait=True)

    @property
    def multiplicity(self) -> int:
        return self._pool._max_workers if self._pool is not None else 0

    # -- sending ------------------------------------------------------------

    def twitter(self, identifier: str, /, *args: Any, **kwargs: Any) -> Message:
        """Send a message to every matching follower and queue; return it."""
        if self._dead:
            self._sweep()
        try:
            route = self._routes[identifier]
        except (KeyError, TypeError):
            route = self._route(identifier)
        message = Message(identifier, args, kwargs, self.node_name)
        if self._pool is None:
            for deliver in route.delivers:
                try:
                    deliver(message)
                except Exception as exc:
                    self._failed(route, deliver, message, exc)
        else:
            self._pool.submit(self._deliver, route, message)
        if route.forward:
            self._forward(message)
        return message

    def _deliver(self, route: Route, message: Message) -> None:
        for deliver in route.delivers:
            try:
                deliver(message)
            except Exception as exc:
                self._failed(route, deliver, message, exc)

    def send(self, message: Message) -> None:
        """Send a message built elsewhere (an RPC client's) as if twittered here.

        Local followers and queues get it, and a non-local one goes on to the
        backend and the relays, keeping its uid and origin.
        """
        if self._dead:
            self._sweep()
        route = self._lookup(message.id)
        if message.reply_to is not None:
            self._answer(route, message)  # a talk() from elsewhere: reply from here too
        elif self._pool is None:
            self._deliver(route, message)
        else:
            self._pool.submit(self._deliver, route, message)
        if route.forward:
            self._forward(message)

    def deliver(self, message: Message) -> None:
        """Deliver a message that came in through the backend to local followers only.

        It is not handed back to the backend or the relays: the process that
        sent it already did that.
        """
        route = self._lookup(message.id)
        if message.reply_to is not None:
            self._answer(route, message)
        else:
            self._deliver(route, message)

    receive = deliver

    def _forward(self, message: Message) -> None:
        if self.backend.forwards:
            self.backend.publish(message)
        for relay in self._relays:
            try:
                relay.relay(message)
            except Exception:
                logger.exception("berryMQ relay %r failed on message %r", relay, message.id)

    def add_relay(self, relay: Relay) -> None:
        """Hand every non-local message sent here to relay.relay(message) (peering)."""
        with self._lock:
            self._relays = (*self._relays, relay)
            self._invalidate()

    def remove_relay(self, relay: Relay) -> None:
        with self._lock:
            self._relays = tuple(r for r in self._relays if r is not relay)
            self._invalidate()

    async def atwitter(self, identifier: str, /, *args: Any, **kwargs: Any) -> Message:
        """Send from async code: await async followers, run sync ones in a thread."""
        if self._dead:
            self._sweep()
        route = self._lookup(identifier)
        message = Message(identifier, args, kwargs, self.node_name)
        batch: list[Subscription] = []
        for sub in route.subscriptions:
            if sub.kind == "queue":
                sub.deliver(message)  # never blocks
            elif not sub.is_async:
                batch.append(sub)
            else:
                if batch:
                    await sync_to_async(self._run_batch)(batch, route, message)
                    batch = []
                await self._acall(sub, route, message)
        if batch:
            await sync_to_async(self._run_batch)(batch, route, message)
        if route.forward:
            self._forward(message)
        return message

    def _run_batch(self, batch: list[Subscription], route: Route, message: Message) -> None:
        for sub in batch:
            try:
                sub.deliver(message)
            except Exception as exc:
                self._failed(route, sub.deliver, message, exc)

    async def _acall(self, sub: Subscription, route: Route, message: Message) -> Any:
        target = sub.resolve()
        if target is None or (sub.guard is not None and not sub.guard(message)):
            return None
        try:
            return await target(message)
        except Exception as exc:
            self._failed(route, sub.deliver, message, exc)
            return None

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
        results = self._answer(route, message)
        if route.forward:
            self._forward(message)
        return results

    def _answer(self, route: Route, message: Message) -> list[Any]:
        """Call the followers of a talk() request; send and return their results."""
        results = []
        for sub in route.subscriptions:
            try:
                if sub.kind == "queue":
                    sub.deliver(message)
                    continue
                target = sub.resolve()
                if target is None or (sub.guard is not None and not sub.guard(message)):
                    continue
                results.append(sub.deliver(message) if sub.is_async else target(message))
            except Exception as exc:
                self._failed(route, sub.deliver, message, exc)
        assert message.reply_to is not None
        for result in results:
            self.twitter(message.reply_to, result, in_reply_to=message.uid)
        return results

    def _failed(self, route: Route, deliver: Deliver, message: Message, exc: Exception) -> None:
        if self.raise_errors:
            raise exc
        self.error_count += 1
        label = next((s.label for s in route.subscriptions if s.deliver is deliver), "?")
        logger.error("berryMQ follower %s raised on message %r", label, message.id, exc_info=exc)

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
                forward = (self.backend.forwards or bool(self._relays)) and not ident.is_local
                route = Route(subs, forward)
                if len(self._routes) >= _MAX_CACHED_ROUTES:
                    self._routes = {}
                self._routes[identifier] = route
            return route

    def _invalidate(self) -> None:
        """Drop every cached route; the caller holds self._lock (or needs no guard)."""
        self._routes = {}

    def _on_dead(self, _ref: object) -> None:
        # Runs inside the garbage collector: set a flag, touch nothing else.
        self._dead = True

    def _sweep(self) -> None:
        with self._lock:
            self._sweep_locked()

    def _sweep_locked(self) -> None:
        """Drop subscriptions whose owners were collected; the caller holds self._lock."""
        self._dead = False
        dead = [s for s in self._registry.subscriptions.values() if not s.alive]
        for sub in dead:
            self._registry.remove(sub)
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
            self._invalidate()
        return sub

    def register_function(
        self,
        identifier: str | Identifier,
        fn: Callable[..., Any],
        guard_condition: Guard | None = None,
    ) -> Callable[..., Any]:
        """Make fn (held strongly) receive messages matching identifier; return fn."""
        pattern = Identifier(identifier)
        _check_callable(fn, "follower")
        _check_guard(guard_condition)
        self._add(
            lambda seq: Subscription(
                pattern, seq, "function", dotted_name(fn), func=fn, guard=guard_condition
            )
        )
        return fn

    def register_method(
        self,
        identifier: str | Identifier,
        bound_method: Callable[..., Any],
        guard_condition: Guard | None = None,
    ) -> Callable[..., Any]:
        """Make a bound method receive messages; its instance is held weakly."""
        pattern = Identifier(identifier)
        if not hasattr(bound_method, "__self__") or not hasattr(bound_method, "__func__"):
            raise TypeError(
                f"register_method() needs a bound method, not {bound_method!r}; "
                "use register_function() for plain functions."
            )
        _check_guard(guard_condition)
        ref = weakref.WeakMethod(bound_method, self._on_dead)
        self._add(
            lambda seq: Subscription(
                pattern,
                seq,
                "method",
                dotted_name(bound_method),
                owners=[ref],
                guard=guard_condition,
            )
        )
        return bound_method

    def unregister(self, fn_or_method: Callable[..., Any]) -> bool:
        """Remove every subscription of a function or bound method; return whether any existed."""
        with self._lock:
            found = [
                s
                for s in self._registry.subscriptions.values()
                if s.kind != "queue" and _same_callable(s.resolve(), fn_or_method)
            ]
            for sub in found:
                self._registry.remove(sub)
            if found:
                self._invalidate()
        return bool(found)

    def subscribe_queue(
        self, queue: Any, identifier: Identifier, store: QueueStore
    ) -> Subscription:
        """Subscribe a queue's store; the subscription lives while the queue object does."""
        ref = weakref.ref(queue, self._on_dead)
        return self._add(
            lambda seq: Subscription(
                identifier, seq, "queue", f"Queue({str(identifier)!r})", owners=[ref], store=store
            )
        )

    def shared_store(self, queue: Any, identifier: Identifier, maxsize: int) -> QueueStore:
        """Return the one store shared by every shared Queue of identifier, subscribing it once."""
        key = identifier.text
        ref = weakref.ref(queue, self._on_dead)
        with self._lock:
            if self._dead:
                self._sweep_locked()
            sub = self._shared.get(key)
            if sub is not None and sub.alive:
                assert sub._owners is not None
                sub._owners.append(ref)
                store: QueueStore = sub.deliver.__self__  # type: ignore[attr-defined]
                return store
            store = self.backend.shared_store(identifier, maxsize)
            self._seq += 1
            sub = Subscription(
                identifier,
                self._seq,
                "queue",
                f"Queue({key!r}, shared=True)",
                owners=[ref],
                store=store,
            )
            self._registry.add(sub)
            self._shared[key] = sub
            self._invalidate()
            return store

    def unsubscribe_queue(self, queue: Any) -> bool:
        """Stop delivering to queue; return whether its store lost its last consumer.

        A shared store stays subscribed while other queues use it.
        """
        emptied = False
        with self._lock:
            for sub in list(self._registry.subscriptions.values()):
                owners = sub._owners
                if sub.kind != "queue" or owners is None:
                    continue
                if not any(r() is queue for r in owners):
                    continue
                owners[:] = [r for r in owners if r() is not None and r() is not queue]
                if not owners:
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
        """Return one line per subscription: "pattern -> dotted.name (kind)"."""
        return [f"{s.pattern} -> {s.label} ({s.kind})" for s in self.subscriptions()]

    def show_network(self) -> str:
        """Return the follower network as Graphviz DOT source."""
        lines = ["digraph berrymq {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
        patterns: dict[str, None] = {}
        for sub in self.subscriptions():
            patterns[str(sub.pattern)] = None
        for text in patterns:
            lines.append(f"  {_dot(text)} [shape=box, style=rounded];")
        for sub in self.subscriptions():
            shape = "cylinder" if sub.kind == "queue" else "ellipse"
            lines.append(f"  {_dot(sub.label)} [shape={shape}];")
            lines.append(f"  {_dot(str(sub.pattern))} -> {_dot(sub.label)};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def reset(self) -> None:
        """Remove every follower and queue and zero the counters."""
        with self._lock:
            self._registry = _Registry()
            self._shared = {}
            self._invalidate()
        self.error_count = 0

    @contextmanager
    def isolate(self) -> Iterator[Dispatcher]:
        """Run a block with no subscriptions; restore the previous ones afterwards."""
        with self._lock:
            saved = (self._registry, self._shared, self.error_count, self.raise_errors)
            self._registry, self._shared = _Registry(), {}
            self._invalidate()
        try:
            yield self
        finally:
            with self._lock:
                self._registry, self._shared, self.error_count, self.raise_errors = saved
                self._invalidate()


def _memory_backend() -> BaseBackend:
    from ..backends.memory import MemoryBackend

    return MemoryBackend()


def _same_callable(a: Any, b: Any) -> bool:
    return a is b or (a is not None and hasattr(a, "__self__") and a == b)


def _check_callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"A berryMQ {what} must be callable, not {fn!r}.")


def _check_guard(guard: Any) -> None:
    if guard is not None and not callable(guard):
        raise TypeError(f"guard_condition must be a callable taking the message, not {guard!r}.")


def _dot(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
