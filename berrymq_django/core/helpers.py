"""Decorators that twitter on a function's behalf: auto_twitter and twitter_exception."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast

from .identifier import Identifier

__all__ = ["auto_twitter", "twitter_exception"]

F = TypeVar("F", bound=Callable[..., Any])


def _twitter(identifier: str, *args: Any, **kwargs: Any) -> Any:
    from .api import default_dispatcher

    return default_dispatcher.twitter(identifier, *args, **kwargs)


def auto_twitter(identifier: str, entry: bool = False, exit: bool = False) -> Callable[[F], F]:
    """Send "<name>:entry" before and "<name>:exit" after each call, with its arguments.

    Both are sent when neither or both flags are set; otherwise only the
    one asked for. The name is taken from identifier ("calc" or "calc:*").
    """
    ident = Identifier(identifier)
    ns = f"@{ident.namespace}" if ident.namespace else ""
    entry_id = f"{ident.name}{ns}:entry"
    exit_id = f"{ident.name}{ns}:exit"
    if entry == exit:
        entry = exit = True

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if entry:
                _twitter(entry_id, *args, **kwargs)
            result = func(*args, **kwargs)
            if exit:
                _twitter(exit_id, *args, **kwargs)
            return result

        return cast(F, wrapper)

    return decorator


def twitter_exception(
    identifier: str, reraise: bool = False, with_traceback: bool = True
) -> Callable[[F], F]:
    """Send twitter(identifier, exc, traceback=...) when the function raises.

    The exception is swallowed (the call returns None) unless reraise.
    """
    Identifier(identifier)

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                text = traceback.format_exc() if with_traceback else None
                _twitter(identifier, exc, traceback=text)
                if reraise:
                    raise
                return None

        return cast(F, wrapper)

    return decorator
