"""Message: what twitter() sends and followers and queues receive."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from time import time
from typing import Any, TypeVar

from .identifier import Identifier, parse_identifier

__all__ = ["Message"]

T = TypeVar("T")

# A uid is this process's random prefix plus a sequence number: unique
# across processes and sites without a uuid4() per message. It is drawn on
# first access, so local messages that nobody asks about cost nothing. A
# forked child draws a new prefix, so parent and child never collide.
_prefix = secrets.token_hex(8) + "-"
_sequence = itertools.count(1)
_uid_lock = threading.Lock()


def _new_prefix() -> None:
    global _prefix, _uid_lock
    _prefix = secrets.token_hex(8) + "-"
    # Another thread may have held the lock at the fork; the child starts afresh.
    _uid_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_prefix)


def new_uid() -> str:
    """Return a fresh uid, unique across processes."""
    return f"{_prefix}{next(_sequence):x}"


class Message:
    """One message: an identifier with positional and keyword arguments.

    Messages are shared by every follower that receives them, so treat them
    as read-only. The uid is formatted on first access: most local messages
    never need it.
    """

    # Kept small on purpose: a million queued messages must stay under 250 MB,
    # so the parsed identifier is looked up (cached) rather than stored.
    __slots__ = ("_kwargs", "_uid", "args", "id", "origin", "reply_to", "timestamp")

    id: str
    args: tuple[Any, ...]
    origin: str
    timestamp: float

    def __init__(
        self,
        id: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        origin: str,
        uid: str | None = None,
        timestamp: float | None = None,
        reply_to: str | None = None,
    ) -> None:
        self.id = id
        self.args = args
        # An empty dict costs 64 bytes per message; store None instead.
        self._kwargs = kwargs or None
        self.origin = origin
        self._uid = uid
        self.timestamp = time() if timestamp is None else timestamp
        # Set by talk(): followers anywhere send their results to this identifier.
        self.reply_to = reply_to

    @classmethod
    def create(cls, identifier: str, *args: Any, origin: str = "", **kwargs: Any) -> Message:
        """Build a message outside a dispatcher (for tests and tools)."""
        parse_identifier(identifier)
        return cls(identifier, args, kwargs, origin)

    @property
    def identifier(self) -> Identifier:
        return parse_identifier(self.id)

    @property
    def name(self) -> str:
        return parse_identifier(self.id).name

    @property
    def action(self) -> str:
        return parse_identifier(self.id).action

    @property
    def kwargs(self) -> dict[str, Any]:
        kwargs = self._kwargs
        return {} if kwargs is None else kwargs

    @property
    def uid(self) -> str:
        """A string unique across processes and sites."""
        uid = self._uid
        if uid is None:
            with _uid_lock:  # two threads asking first must see the same uid
                if self._uid is None:
                    self._uid = new_uid()
                uid = self._uid
        return uid

    @property
    def is_local(self) -> bool:
        return parse_identifier(self.id).is_local

    def apply(self, func: Callable[..., T]) -> T:
        """Call func with the message's arguments and return its result."""
        return func(*self.args, **self.kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form: a JSON-safe dict when args and kwargs are."""
        data = {
            "id": self.id,
            "args": list(self.args),
            "kwargs": self.kwargs,
            "uid": self.uid,
            "origin": self.origin,
            "timestamp": self.timestamp,
        }
        if self.reply_to is not None:
            data["reply_to"] = self.reply_to
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Rebuild a message from its wire form, keeping its uid and origin.

        Raise ValueError or TypeError naming the bad field.
        """
        try:
            text = data["id"]
        except (KeyError, TypeError):
            raise ValueError(f"A message needs an 'id' (the identifier), got {data!r}.") from None
        args = data.get("args", ())
        if not isinstance(args, list | tuple):
            raise TypeError(f"Message 'args' must be a list, not {type(args).__name__}.")
        kwargs = data.get("kwargs") or {}
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise TypeError(f"Message 'kwargs' must be an object with string keys, got {kwargs!r}.")
        uid = data.get("uid") or None
        if uid is not None and not isinstance(uid, str):
            raise TypeError(f"Message 'uid' must be a string, not {type(uid).__name__}.")
        origin = data.get("origin") or ""
        if not isinstance(origin, str):
            raise TypeError(f"Message 'origin' must be a string, not {type(origin).__name__}.")
        timestamp = data.get("timestamp")
        if timestamp is not None and not isinstance(timestamp, int | float):
            raise TypeError(f"Message 'timestamp' must be a number, not {timestamp!r}.")
        reply_to = data.get("reply_to")
        if reply_to is not None:
            if not isinstance(reply_to, str):
                raise TypeError(f"Message 'reply_to' must be an identifier, not {reply_to!r}.")
            parse_identifier(reply_to)
        parse_identifier(text)
        return cls(text, tuple(args), kwargs, origin, uid, timestamp, reply_to)

    def __repr__(self) -> str:
        return f"<Message {self.id!r} args={self.args!r} kwargs={self.kwargs!r}>"
