"""Messages as they come in over JSON-RPC: identifiers, and send_messages' batches.

What the params' schema cannot say is checked here: an identifier's
grammar, that it is not local, the MAX_IDENTIFIER_LENGTH limit. A batch is
built whole before anything is sent, so one bad message refuses the call
(its index in ``error.data``), and each identifier is checked once per
batch. A message that started at this site is left out: it came back.
"""

from __future__ import annotations

from typing import Any

from ..core.identifier import parse_identifier
from ..core.message import Message
from .context import CallContext
from .protocol import INVALID_PARAMS, RPCError

__all__ = ["WIRE_MESSAGE", "Run", "Seen", "build_batch", "check_identifier"]

#: The sites that have a message already, as its sender said (see peers.Peers.relay).
Seen = tuple[str, ...]
#: Messages in their order whose sender named the same sites as having them.
Run = tuple[Seen, list[Message]]

#: A message as send_messages takes it; identifiers are checked as IDENTIFIER's.
WIRE_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "args": {"type": ["array", "null"]},
        "kwargs": {"type": ["object", "null"]},
        "uid": {"type": ["string", "null"], "maxLength": 128},
        "origin": {"type": ["string", "null"], "maxLength": 200},
        "timestamp": {"type": ["number", "null"]},
        "reply_to": {"type": ["string", "null"]},
        # The sites that have it (or are being sent it) already: not to be forwarded there.
        "seen": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 64},
    },
    "required": ["id"],
}


def check_identifier(context: CallContext, text: str, name: str = "identifier") -> str:
    """Check what the schema cannot: the length limit, the grammar, not local."""
    limit = context.limits.max_identifier_length
    if len(text) > limit:
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: {name!r} is {len(text)} characters; the limit "
            f"(BERRYMQ 'MAX_IDENTIFIER_LENGTH') is {limit}.",
        )
    try:
        ident = parse_identifier(text)
    except (TypeError, ValueError) as exc:
        # Named: talk takes two identifiers, and the caller must know which one is bad.
        raise RPCError(INVALID_PARAMS, f"Invalid params: {name!r}: {exc}") from None
    if ident.is_local:
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: {name!r} {text!r} is local (its name starts with '_'); local "
            "messages never cross processes.",
        )
    return text


def _wire_identifier(context: CallContext, text: str, index: int, field: str) -> None:
    """Check messages[index].field as _identifier does; the error's data names the index."""
    try:
        check_identifier(context, text, f"messages[{index}].{field}")
    except RPCError as exc:
        raise RPCError(INVALID_PARAMS, exc.message, {"index": index}) from None


def build_batch(context: CallContext, messages: list[dict[str, Any]]) -> list[Run]:
    """Build send_messages' messages from their wire dicts, whose shape the schema checked.

    Return them in order, as runs of messages whose senders named the same
    ``seen``, leaving out those that started at this site. A bad identifier is
    an INVALID_PARAMS error whose data names the index, so a sender can drop
    just that message; each identifier is checked once per batch.
    """
    here = context.dispatcher.node_name
    default_origin = f"rpc:{context.principal}"
    checked: set[str] = set()
    runs: list[Run] = []
    run: list[Message] = []
    seen_list: list[str] | None = None  # the wire form of the current run's seen
    for index, data in enumerate(messages):
        text = data["id"]
        if text not in checked:
            _wire_identifier(context, text, index, "id")
            checked.add(text)
        reply_to = data.get("reply_to")
        if reply_to is not None and reply_to not in checked:
            _wire_identifier(context, reply_to, index, "reply_to")
            checked.add(reply_to)
        origin = data.get("origin") or default_origin
        if origin == here:
            continue  # it started here and came back round: it was delivered here already
        seen = data.get("seen")
        if seen != seen_list or not runs:
            seen_list = seen
            run = []
            runs.append((tuple(seen) if seen else (), run))
        args = data.get("args")
        # The sender's timestamp is kept: it is when the message was sent, not when it came in.
        run.append(
            Message(
                text, tuple(args) if args else (), data.get("kwargs"), origin,
                data.get("uid") or None, data.get("timestamp"), reply_to,
            )
        )  # fmt: skip
    return runs
