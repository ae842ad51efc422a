"""Push API receivers: decorated functions and methods of Follower classes.

``@following_function`` registers a plain function at once (held strongly,
so a module-level receiver never vanishes). ``@following`` only marks a
method; the class registers it: class and static methods when the class is
created, instance methods each time an instance is created, held by weak
reference so a collected instance simply stops receiving.

Use the ``Follower`` metaclass as berryMQ always has, or ``FollowerMixin``
as a base class where the class already has a metaclass (Django models,
views, services).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .identifier import Identifier
from .subscription import Guard, check_group

__all__ = ["Follower", "FollowerMixin", "following", "following_function"]

F = TypeVar("F", bound=Callable[..., Any])

# Set on a decorated function: a list of (pattern, guard, group) it follows.
MARK = "__berrymq_following__"
# Set on a Follower class: the instance-method followings, decided once per class.
_INSTANCE_FOLLOWINGS = "_berrymq_instance_followings"


def _dispatcher() -> Any:
    from .api import default_dispatcher

    return default_dispatcher


def following_function(
    identifier: str, guard_condition: Guard | None = None, *, group: str | None = None
) -> Callable[[F], F]:
    """Register the decorated function as a follower of identifier and return it unchanged.

    ``group`` makes it a member of a follower group: each matching message is
    handled once per deployment (see register_function).
    """
    pattern = Identifier(identifier)  # a bad identifier fails at decoration time
    check_group(group)

    def decorator(fn: F) -> F:
        _dispatcher().register_function(pattern, fn, guard_condition, group=group)
        return fn

    return decorator


def following(
    identifier: str, guard_condition: Guard | None = None, *, group: str | None = None
) -> Callable[[F], F]:
    """Mark a method of a Follower class as a follower of identifier.

    Works on instance methods, classmethods and staticmethods, on either
    side of the @classmethod/@staticmethod line. ``group`` as for
    following_function.
    """
    pattern = Identifier(identifier)
    check_group(group)

    def decorator(method: F) -> F:
        func = getattr(method, "__func__", method)  # under a classmethod/staticmethod
        marks = func.__dict__.setdefault(MARK, [])
        marks.append((pattern, guard_condition, group))
        return method

    return decorator


def _marks(attr: Any) -> list[tuple[Identifier, Guard | None, str | None]]:
    func = getattr(attr, "__func__", attr)
    return getattr(func, MARK, None) or []


def _prepare_class(cls: type) -> None:
    """Register cls's own class/static followings; remember its instance followings."""
    dispatcher = _dispatcher()
    instance_followings: list[tuple[str, Identifier, Guard | None, str | None]] = []
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)  # the most derived definition wins
            marks = _marks(attr)
            if not marks:
                continue
            if isinstance(attr, staticmethod | classmethod):
                if klass is not cls:
                    continue  # registered when klass itself was created
                bound = getattr(cls, name)
                for pattern, guard, group in marks:
                    if isinstance(attr, staticmethod):
                        dispatcher.register_function(pattern, bound, guard, group=group)
                    else:
                        dispatcher.register_method(pattern, bound, guard, group=group)
            else:
                instance_followings.extend((name, *mark) for mark in marks)
    setattr(cls, _INSTANCE_FOLLOWINGS, tuple(instance_followings))


def _register_instance(instance: object) -> None:
    followings = getattr(type(instance), _INSTANCE_FOLLOWINGS, ())
    if not followings:
        return
    dispatcher = _dispatcher()
    for name, pattern, guard, group in followings:
        dispatcher.register_method(pattern, getattr(instance, name), guard, group=group)


class Follower(type):
    """Metaclass whose classes' @following methods receive messages.

    ``class Logger(metaclass=Follower): ...``
    """

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        _prepare_class(cls)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__call__(*args, **kwargs)
        _register_instance(instance)
        return instance


class FollowerMixin:
    """Base class giving @following methods the Follower behaviour, without a metaclass."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _prepare_class(cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        parent_new = super().__new__
        if parent_new is object.__new__:
            instance = parent_new(cls)
        else:
            instance = parent_new(cls, *args, **kwargs)
        _register_instance(instance)
        return instance
