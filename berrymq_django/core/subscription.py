"""Subscriptions, routes and the registry that finds them.

A ``Subscription`` is one follower or queue subscribed to a pattern. What a
delivery to it needs is decided once, at registration (Django's Signal does
the same with ``is_async``): whether it is async, whether it is guarded, and
so the one callable, ``deliver``, that carries the single delivery rule:

    resolve the target (a collected owner means skip),
    ask the guard (False means skip),
    call it (an async follower is run to completion from sync code).

``deliver(message)`` returns the follower's result, or ``SKIPPED``. It never
catches: the dispatcher decides what a failure means, in one place. The
async twin ``adeliver`` applies the same rule and awaits an async target.

A ``Route`` is the cached delivery plan for one identifier; the ``Registry``
finds the subscriptions matching an identifier through an index by
(namespace, name, action), never by scanning every follower.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, Final, Literal

from asgiref.sync import async_to_sync, iscoroutinefunction

from .figures import FollowerFigures
from .identifier import WILDCARD, Identifier

if TYPE_CHECKING:
    from .contracts import Store
    from .message import Message

__all__ = [
    "SKIPPED",
    "Guard",
    "Kind",
    "Registry",
    "Route",
    "Subscription",
    "check_callable",
    "check_group",
    "check_guard",
    "dotted_name",
    "network_dot",
    "same_callable",
]

Kind = Literal["function", "method", "queue"]
Guard = Callable[["Message"], Any]


class _Skipped:
    """What deliver() returns when a follower's owner is gone or its guard said no."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED: Final = _Skipped()


def dotted_name(obj: Any) -> str:
    """Return module.qualname of a function, method or class, for logs and tools."""
    func = getattr(obj, "__func__", obj)
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{qualname}"


_GROUP_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def check_group(group: object) -> str | None:
    """Return group if it is a valid follower group name (or None); raise naming it if not.

    A name is 1-100 characters of letters, digits and ``_ . : -``: it names
    keys in a shared backend and appears in commands and status.
    """
    if group is None:
        return None
    if not isinstance(group, str) or not _GROUP_NAME.fullmatch(group):
        raise ValueError(
            f"A follower group must be 1-100 letters, digits or '_.:-', not {group!r}."
        )
    return group


class Subscription:
    """One follower or queue subscribed to a pattern; decided once at registration."""

    __slots__ = (
        "_func",
        "_owners",
        "deliver",
        "figures",
        "group",
        "guard",
        "is_async",
        "kind",
        "label",
        "pattern",
        "seq",
        "store",
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
        store: Store | None = None,
        group: str | None = None,
    ) -> None:
        self.pattern = pattern
        self.group = group
        self.seq = seq
        self.kind = kind
        self.label = label
        self.guard = guard
        self.store = store
        self._func = func  # a function held strongly, or None
        self._owners = owners  # weak references keeping this subscription alive
        # Counted by the dispatcher on every delivery (see core/figures.py).
        self.figures = FollowerFigures()
        self.deliver: Callable[[Message], Any]
        if store is not None:
            self.is_async = False
            self.deliver = store.put  # returns None: a queue is never a talk() answer
            return
        target = self.resolve()
        self.is_async = target is not None and iscoroutinefunction(target)
        if func is not None and guard is None and not self.is_async:
            self.deliver = func  # the common case: no wrapper at all
        else:
            self.deliver = self._guarded

    def _guarded(self, message: Message) -> Any:
        target = self._target(message)
        if target is None:
            return SKIPPED
        if self.is_async:
            if _loop_running():
                return _beside_the_loop(target, message)
            return async_to_sync(target)(message)
        return target(message)

    async def adeliver(self, message: Message) -> Any:
        """Apply the same rule as ``deliver`` and await an async target."""
        if not self.is_async:
            return self.deliver(message)
        target = self._target(message)
        if target is None:
            return SKIPPED
        return await target(message)

    def _target(self, message: Message) -> Callable[..., Any] | None:
        target = self.resolve()
        if target is None or self.guard is None:
            return target
        verdict = self.guard(message)
        if not verdict:
            return None
        if verdict is not True and isawaitable(verdict):
            # An awaitable is truthy: passing it would let every message through.
            _close(verdict)
            raise TypeError(
                f"guard_condition {dotted_name(self.guard)} returned an awaitable: a guard "
                "must answer at once, True or False (it runs inside sync sends too)."
            )
        return target

    def resolve(self) -> Callable[..., Any] | None:
        """Return the callable to invoke, or None once its owner is gone."""
        if self._func is not None:
            return self._func
        if self.store is not None:
            return self.store.put
        assert self._owners is not None
        return self._owners[0]()

    @property
    def alive(self) -> bool:
        owners = self._owners
        return owners is None or any(ref() is not None for ref in owners)

    def add_owner(self, ref: weakref.ref[Any]) -> None:
        """Keep this subscription alive while ref's object lives too (shared queues)."""
        assert self._owners is not None
        self._owners.append(ref)

    def drop_owner(self, owner: Any) -> bool:
        """Forget owner (and collected owners); return whether none is left."""
        owners = self._owners
        if owners is None:
            return False
        owners[:] = [r for r in owners if (o := r()) is not None and o is not owner]
        return not owners

    def owned_by(self, owner: Any) -> bool:
        return self._owners is not None and any(r() is owner for r in self._owners)

    def describe(self) -> str:
        """Return "pattern -> dotted.name (kind)", with " [group G]" for a group member."""
        text = f"{self.pattern} -> {self.label} ({self.kind})"
        return text if self.group is None else f"{text} [group {self.group}]"

    def __repr__(self) -> str:
        return f"<Subscription {self.describe()}>"


class Route:
    """The cached delivery plan for one identifier."""

    __slots__ = ("forward", "subscriptions")

    def __init__(self, subscriptions: tuple[Subscription, ...], forward: bool) -> None:
        self.subscriptions = subscriptions
        self.forward = forward


class Registry:
    """Subscriptions in registration order plus an index by (namespace, name, action).

    Index keys put the wildcard in place, so a concrete identifier finds its
    candidates with four lookups: exact, name:*, *:action and *:*. Not
    thread-safe: the dispatcher holds its lock around every call.
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
        """Return the subscriptions whose pattern matches ident, in registration order."""
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


def network_dot(subscriptions: list[Subscription]) -> str:
    """Return Graphviz DOT source: patterns (boxes) pointing at their followers."""
    lines = ["digraph berrymq {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for text in dict.fromkeys(str(s.pattern) for s in subscriptions):
        lines.append(f"  {_dot(text)} [shape=box, style=rounded];")
    for sub in subscriptions:
        shape = "cylinder" if sub.kind == "queue" else "ellipse"
        lines.append(f"  {_dot(sub.label)} [shape={shape}];")
        lines.append(f"  {_dot(str(sub.pattern))} -> {_dot(sub.label)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def same_callable(a: Any, b: Any) -> bool:
    """Whether a subscription's callable a is b (bound methods compare equal)."""
    return a is b or (a is not None and hasattr(a, "__self__") and a == b)


def check_callable(fn: Any, what: str) -> None:
    """Raise TypeError naming fn unless it is callable."""
    if not callable(fn):
        raise TypeError(f"A berryMQ {what} must be callable, not {fn!r}.")


def check_guard(guard: Any) -> None:
    """Raise TypeError naming guard unless it is None or a plain (not async) callable.

    A guard runs inside every send, ``twitter`` from sync code included, and
    answers at once: an ``async def`` guard is refused here, and one that
    returns an awaitable anyway fails each delivery (logged and counted).
    """
    if guard is not None and not callable(guard):
        raise TypeError(f"guard_condition must be a callable taking the message, not {guard!r}.")
    if guard is not None and (
        iscoroutinefunction(guard) or iscoroutinefunction(type(guard).__call__)  # an instance's
    ):
        raise TypeError(
            f"guard_condition {dotted_name(guard)} is async: a guard must answer at once, True "
            "or False (it runs inside sync sends too). Await what you need in the follower."
        )


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _beside_the_loop(target: Callable[..., Any], message: Message) -> Any:
    """Run an async follower to completion from sync code in a thread that runs a loop.

    asgiref will not run one in that thread (the loop would have to wait for
    itself), so it runs in a thread of its own, as it would on the pool; the
    sync sender waits for it, as it waits for any follower.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="berrymq-async") as executor:
        return executor.submit(async_to_sync(target), message).result()


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)  # a coroutine never awaited warns unless closed
    if close is not None:
        close()
