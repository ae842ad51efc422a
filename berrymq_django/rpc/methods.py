"""The berryMQ procedures served over JSON-RPC.

The original protocol (connect_oneway, interconnect, connect_via_queue,
send_message, get, get_nowait, close_connection) keeps its names and
meaning; send_messages, talk, status and rpc.discover are new. Each
procedure declares its params once (``params.Param``): the schema that
``rpc.discover`` publishes and every call is checked against, so the
procedures check only what a schema cannot say (identifiers, limits from
the settings, tokens). No Django here: the view passes a ``CallContext``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..core.message import Message
from ..core.store import Empty
from ..core.version import __version__
from .connections import Connection, Style, new_token
from .context import CallContext, Limits
from .inbound import WIRE_MESSAGE, build_batch, check_identifier
from .params import Param, Registry, openrpc_document
from .peers import callback_name, incoming
from .protocol import (
    FORBIDDEN,
    INVALID_PARAMS,
    INVALID_TOKEN,
    PROTOCOL_VERSION,
    TIMEOUT,
    RPCError,
    limit_exceeded,
)
from .urls import URL_PATTERN

__all__ = ["PROCEDURES", "CallContext", "Limits", "call", "discover_document", "registry"]

# A ttl beyond a week is a mistake rather than a wish.
MAX_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_TTL_SECONDS = 600.0

registry = Registry()
PROCEDURES = registry.procedures
call = registry.call
procedure = registry.procedure


# -- parameters shared by several procedures --------------------------------

TOKEN = Param("token", {"type": "string", "maxLength": 128}, "A token from a connect method.")
TTL = Param(
    "ttl",
    {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_SECONDS},
    "Seconds of inactivity after which the token expires.",
    DEFAULT_TTL_SECONDS,
)
IDENTIFIER = Param(
    "identifier",
    {"type": "string"},
    'A berryMQ identifier, "name:action"; not local (no leading "_"), at most the '
    "server's MAX_IDENTIFIER_LENGTH characters.",
)
ARGS = Param("args", {"type": "array"}, "Positional arguments of the message.", None)
KWARGS = Param("kwargs", {"type": "object"}, "Keyword arguments of the message.", None)
UID = Param("uid", {"type": ["string", "null"], "maxLength": 128}, "Unique id, for dedup.", None)
ORIGIN = Param("origin", {"type": ["string", "null"], "maxLength": 200}, "Sender's node.", None)

OK = {"type": "string", "const": "ok"}
TOKEN_RESULT = {"type": "string", "description": "The connection token."}
MESSAGE_RESULT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "args": {"type": "array"},
        "kwargs": {"type": "object"},
        "uid": {"type": "string"},
        "origin": {"type": "string"},
        "timestamp": {"type": "number"},
    },
}


def _open(context: CallContext, style: Style, ttl: float, **fields: Any) -> str:
    connection = Connection(new_token(), context.principal, style, float(ttl), **fields)
    context.state.open_connection(connection)
    return connection.token


def _connection(context: CallContext, token: str) -> Connection:
    connection = context.state.get_connection(token)
    if connection is None or connection.principal != context.principal:
        # The same answer for unknown, expired and foreign tokens: no oracle.
        raise RPCError(INVALID_TOKEN, "invalid token")
    return connection


# -- the procedures ---------------------------------------------------------


@procedure(
    "connect_oneway",
    TTL,
    summary="Connect to send only (style 02, e.g. logging). Returns a token.",
    result=TOKEN_RESULT,
)
def connect_oneway(context: CallContext, ttl: float) -> str:
    return _open(context, "oneway", ttl)


@procedure(
    "interconnect",
    Param(
        "addr",
        {
            "anyOf": [
                {
                    "type": "string",
                    "maxLength": 2000,
                    "pattern": URL_PATTERN,  # a host that can be called back
                },
                {
                    "type": "array",
                    "items": [
                        {"type": "string", "pattern": r"^[^/?#@\[\]:\s]+$"},
                        {"type": "integer", "minimum": 1, "maximum": 65535},
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                },
            ],
            "description": "an http(s) URL or [host, port]",
        },
        "The caller's endpoint URL (or an original client's [host, port]).",
    ),
    Param(
        "token",
        {
            "type": "string",
            "maxLength": 128,
            "pattern": "^[!-~]+$",
            "description": "printable ASCII without spaces",
        },
        "The caller's token for calling back (sent back in an Authorization header).",
    ),
    TTL,
    summary="Connect as equals (style 01): both sides forward non-local messages to each other.",
    result=TOKEN_RESULT,
)
def interconnect(context: CallContext, addr: str | list[Any], token: str, ttl: float) -> str:
    peers = context.peers
    if peers is None:
        raise RPCError(FORBIDDEN, "interconnect is not served here: this site cannot call back.")
    url = f"http://{addr[0]}:{addr[1]}/" if isinstance(addr, list) else addr
    # Call the peer back on its token: that is style 01's other half. One link per
    # address and caller, MAX_INTERCONNECTS addresses at most (-32010 past them).
    limit = context.limits.max_interconnects
    peers.add_callback(url, token, float(ttl), context.principal, limit=limit)
    return _open(context, "interconnect", ttl, addr=url, remote_token=token)


@procedure(
    "connect_via_queue",
    IDENTIFIER,
    TTL,
    summary="Create a queue here for identifier that the caller pulls (style 03).",
    result=TOKEN_RESULT,
)
def connect_via_queue(context: CallContext, identifier: str, ttl: float) -> str:
    identifier = check_identifier(context, identifier)
    return _open(context, "queue", ttl, identifier=identifier, maxsize=context.limits.queue_maxsize)


@procedure(
    "send_message",
    TOKEN,
    IDENTIFIER,
    ARGS,
    KWARGS,
    UID,
    ORIGIN,
    summary="Twitter a message on this site; a uid seen recently is acknowledged, not resent.",
    result=OK,
)
def send_message(
    context: CallContext,
    token: str,
    identifier: str,
    args: list[Any] | None,
    kwargs: dict[str, Any] | None,
    uid: str | None,
    origin: str | None,
) -> str:
    _connection(context, token)
    check_identifier(context, identifier)
    origin = origin or f"rpc:{context.principal}"
    if origin == context.dispatcher.node_name:
        return "ok"  # it started here and came back round: it was delivered here already
    message = Message(identifier, tuple(args or ()), kwargs, origin, uid or None)
    # Every message's uid is remembered, one given here too: a copy that comes back
    # through a peer (in a mesh, say) is a duplicate, not a second delivery.
    if context.state.accept_uid(message.uid, context.limits.dedup_seconds):
        with _forgotten_on_failure(context, [message.uid]):
            context.dispatcher.send(message)
    return "ok"


@procedure(
    "send_messages",
    TOKEN,
    Param(
        "messages",
        {"type": "array", "items": WIRE_MESSAGE},
        "Messages as {id, args?, kwargs?, uid?, origin?, timestamp?, reply_to?}; all are "
        "checked before any is sent.",
    ),
    summary="Twitter many messages in one call (the peering fast path).",
    result={
        "type": "object",
        "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
    },
)
def send_messages(context: CallContext, token: str, messages: list[Any]) -> dict[str, int]:
    _connection(context, token)
    limit = context.limits.max_messages_per_call
    if len(messages) > limit:
        raise limit_exceeded(
            "MAX_MESSAGES_PER_CALL", limit, len(messages), "The number of messages"
        )
    runs = build_batch(context, messages)
    # The uids (given here when the sender gave none) in one dedup round: a shared state
    # answers it in one round trip.
    uids = [message.uid for _, run in runs for message in run]
    fresh = context.state.accept_uids(uids, context.limits.dedup_seconds)
    send_many = context.dispatcher.send_many
    accepted = 0
    # Every uid new and none twice (the usual case): no message to leave out.
    filtering = len(fresh) < len(uids) or not all(fresh.values())
    try:
        with _forgotten_on_failure(context, [uid for uid, new in fresh.items() if new]):
            for seen, run in runs:
                if filtering:
                    run = _fresh(run, fresh)
                if run:
                    incoming.seen = seen  # our peers that have them get no copy
                    send_many(run)
                    accepted += len(run)
    finally:
        incoming.seen = ()
    return {"accepted": accepted, "duplicates": len(messages) - accepted}


def _fresh(run: list[Message], fresh: dict[str, bool]) -> list[Message]:
    """Return the messages of run whose uid is new; the same uid twice is a duplicate too."""
    kept = []
    for message in run:
        uid = message.uid
        if fresh.get(uid, False):
            fresh[uid] = False
            kept.append(message)
    return kept


@contextmanager
def _forgotten_on_failure(context: CallContext, uids: list[str]) -> Iterator[None]:
    """Forget uids if the block raises: the call fails, so its sender will send them again.

    The failed call's database writes are rolled back (ATOMIC_REQUESTS) and it is
    answered with an error, so the sender cannot tell which messages were delivered:
    the retry delivers all of them (at least once), not none (lost as "duplicates").
    """
    try:
        yield
    except BaseException:
        context.state.forget_uids(uids)
        raise


@procedure(
    "get",
    TOKEN,
    Param("block", {"type": "boolean"}, "Wait for a message.", True),
    Param(
        "timeout",
        {"type": ["number", "null"], "minimum": 0},
        "Seconds to wait at most (capped by the server's MAX_POLL_SECONDS).",
        None,
    ),
    summary="Pull the oldest message of a queue connection, waiting up to timeout (long poll).",
    result=MESSAGE_RESULT,
    answer_only=True,  # as a notification, the message it took would have nowhere to go
)
def get(context: CallContext, token: str, block: bool, timeout: float | None) -> dict[str, Any]:
    cap = context.limits.max_poll_seconds
    wait = context.wait_budget(cap if timeout is None else min(timeout, cap))
    return _pull(context, token, block and wait > 0, wait)


@procedure(
    "get_nowait",
    TOKEN,
    summary="Pull the oldest message of a queue connection, or fail with timeout at once.",
    result=MESSAGE_RESULT,
    answer_only=True,
)
def get_nowait(context: CallContext, token: str) -> dict[str, Any]:
    return _pull(context, token, False, 0)


def _pull(context: CallContext, token: str, block: bool, wait: float) -> dict[str, Any]:
    connection = _connection(context, token)
    if connection.style != "queue":
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: this token is a {connection.style} connection; "
            "only connect_via_queue tokens can get.",
        )
    queue = context.state.connection_queue(connection)
    try:
        message = queue.get(block, wait) if block else queue.get_nowait()
    except Empty:
        raise RPCError(TIMEOUT, "timeout") from None
    return message.to_dict()


@procedure("close_connection", TOKEN, summary="Close a connection and its queue.", result=OK)
def close_connection(context: CallContext, token: str) -> str:
    connection = _connection(context, token)
    context.state.close_connection(token)
    if connection.style == "interconnect" and connection.addr and context.peers is not None:
        context.peers.remove(callback_name(connection.principal, connection.addr))
    return "ok"


@procedure(
    "talk",
    TOKEN,
    IDENTIFIER,
    Param("callback_identifier", {"type": "string"}, "Where each result is also sent."),
    ARGS,
    KWARGS,
    summary="Call the followers of identifier here; return their results in follower order.",
    result={"type": "array"},
)
def talk(
    context: CallContext,
    token: str,
    identifier: str,
    callback_identifier: str,
    args: list[Any] | None,
    kwargs: dict[str, Any] | None,
) -> list[Any]:
    _connection(context, token)
    check_identifier(context, identifier)
    check_identifier(context, callback_identifier, "callback_identifier")
    return context.dispatcher.talk(identifier, callback_identifier, *(args or ()), **(kwargs or {}))


@procedure(
    "status",
    summary="Report this node: name, protocol version, limits, connections and counters "
    "(key holders only).",
    result={"type": "object"},
)
def status(context: CallContext) -> dict[str, Any]:
    if context.anonymous:
        raise RPCError(FORBIDDEN, "status needs an API key or a staff session.")
    styles: dict[str, int] = {}
    for connection in context.state.connections():
        styles[connection.style] = styles.get(connection.style, 0) + 1
    report: dict[str, Any] = {"node": context.dispatcher.node_name, "protocol": PROTOCOL_VERSION}
    if context.site_report is not None:
        report.update(context.site_report())
    report["connections"] = sum(styles.values())
    report["connections_by_style"] = styles
    report["follower_errors"] = context.dispatcher.error_count
    figures = context.dispatcher.figures
    report["messages"] = {
        "sent": figures.sent,
        "delivered": figures.delivered,
        "errors": figures.errors,
    }
    report["groups"] = context.dispatcher.groups()
    report["peers"] = {} if context.peers is None else context.peers.status()
    return report


@procedure(
    "rpc.discover",
    summary="Describe every method as an OpenRPC document.",
    result={"type": "object"},
)
def discover(context: CallContext) -> dict[str, Any]:
    return discover_document()


def discover_document() -> dict[str, Any]:
    """Return the OpenRPC 1.2 document of every procedure."""
    return openrpc_document(PROCEDURES.values(), __version__)
