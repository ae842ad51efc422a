"""The messages' JSON form in Redis: one object per message, one per line in a batch.

``encode`` writes what ``Message.to_dict`` gives (with a few more types
written as text, see ``_default``); ``decode`` and ``from_fields`` rebuild a
message, directly when it is in the form ``encode`` wrote, through
``Message.from_dict``'s checks otherwise; ``decode_batch`` parses the lines
of one stream entry (see wire.py for where each form is kept).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from ...core.identifier import parse_identifier
from ...core.message import Message

__all__ = ["decode", "decode_batch", "encode", "from_fields"]

_DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    """Encode what orjson does not know but a follower elsewhere can still use."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return list(obj)
    if isinstance(obj, BaseException):  # twitter_exception sends the exception
        return f"{type(obj).__name__}: {obj}"
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def encode(message: Message) -> bytes:
    """Return the JSON form of message (``Message.to_dict``'s); raise TypeError when an
    argument has none."""
    # The dict written out directly: orjson writes the args tuple as the array
    # to_dict() would copy it into, one allocation less per message.
    data = {
        "id": message.id,
        "args": message.args,
        "kwargs": message.kwargs,
        "uid": message.uid,
        "origin": message.origin,
        "timestamp": message.timestamp,
    }
    if message.reply_to is not None:
        data["reply_to"] = message.reply_to
    return orjson.dumps(data, default=_default, option=_DUMPS_OPTIONS)


def decode(data: bytes) -> Message:
    """Rebuild one message from encode()'s output; raise ValueError or TypeError if malformed."""
    return from_fields(orjson.loads(data))


def from_fields(fields: Any) -> Message:
    """Rebuild a message from its parsed JSON form; raise ValueError or TypeError if malformed.

    What encode() writes is rebuilt directly; anything else goes through
    Message.from_dict's checks, which name what is wrong.
    """
    if type(fields) is dict and len(fields) == 6:
        text, args = fields.get("id"), fields.get("args")
        kwargs, uid = fields.get("kwargs"), fields.get("uid")
        origin, timestamp = fields.get("origin"), fields.get("timestamp")
        if (
            type(text) is str
            and type(args) is list
            and type(kwargs) is dict
            and type(uid) is str
            and type(origin) is str
            and type(timestamp) is float
        ):
            parse_identifier(text)  # cached: raises for a malformed one
            return Message(text, tuple(args), kwargs, origin, uid or None, timestamp)
    return Message.from_dict(fields)


def decode_batch(data: bytes) -> list[Any]:
    """Return the message dicts of one stream entry (one JSON object per line)."""
    if data and b"\n\n" not in data and not data.endswith(b"\n"):
        # One parse for the whole entry: JSON never holds a raw newline.
        try:
            batch: list[Any] = orjson.loads(b"[" + data.replace(b"\n", b",") + b"]")
            if len(batch) == data.count(b"\n") + 1:  # one value a line, as encode() wrote
                return batch
        except orjson.JSONDecodeError:
            pass  # a malformed line: parsed line by line below, to name the error
    loads = orjson.loads
    return [loads(line) for line in data.split(b"\n") if line]
