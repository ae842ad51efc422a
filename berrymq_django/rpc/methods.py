"""The berryMQ procedures served over JSON-RPC, with their parameter checks.

The original protocol (connect_oneway, interconnect, connect_via_queue,
send_message, get, get_nowait, close_connection) keeps its names and
meaning; send_messages, talk, status and rpc.discover are new. Each
procedure declares its parameters once (``Param``), which gives both the
validation and the OpenRPC document. No Django here: the view passes a
``CallContext``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..core.dispatcher import Dispatcher
from ..core.identifier import parse_identifier
from ..core.message import Message
from ..core.store import Empty
from .connections import Connection, Style, new_token
from .peers import callback_name, peers_for
from .protocol import (
    FORBIDDEN,
    INVALID_PARAMS,
    INVALID_TOKEN,
    METHOD_NOT_FOUND,
    TIMEOUT,
    RPCError,
    limit_exceeded,
)

__all__ = ["PROCEDURES", "CallContext", "Limits", "Param", "Procedure", "call", "openrpc_document"]

# A ttl beyond a week is a mistake rather than a wish.
MAX_TTL_SECONDS = 7 * 24 * 3600
DEFAULT_TTL_SECONDS = 600.0


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The BERRYMQ settings the procedures obey."""

    max_poll_seconds: float = 25.0
    dedup_seconds: float = 600.0
    queue_maxsize: int = 10_000
    max_identifier_length: int = 200
    max_messages_per_call: int = 10_000


@dataclasses.dataclass(slots=True)
class CallContext:
    """Who is calling, and the dispatcher and limits the call works with."""

    principal: str
    dispatcher: Dispatcher
    limits: Limits
    anonymous: bool = False
    #: time.monotonic() past which no call of this request may wait: a batch of
    #: blocking gets shares one MAX_POLL_SECONDS, it does not get one each.
    deadline: float | None = None

    def wait_budget(self, wanted: float) -> float:
        """Return how long a call may wait: wanted, capped by the request's deadline."""
        if self.deadline is None:
            return wanted
        return max(0.0, min(wanted, self.deadline - time.monotonic()))


# JSON schema types as Python types; bool is an int in Python but not a JSON number.
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}

_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter: its JSON schema, and a default when it may be left out."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    default: Any = _REQUIRED
    # Decided once from the schema: the Python types accepted, and whether bool is.
    types: tuple[type, ...] = dataclasses.field(init=False, repr=False)
    allows_bool: bool = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = self.schema.get("type", ())
        names = [names] if isinstance(names, str) else list(names)
        object.__setattr__(self, "types", tuple(t for n in names for t in _PY_TYPES[n]))
        object.__setattr__(self, "allows_bool", "boolean" in names)

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def check(self, value: Any) -> Any:
        types = self.types
        if not types or (
            isinstance(value, types) and (self.allows_bool or value.__class__ is not bool)
        ):
            longest = self.schema.get("maxLength")
            if longest is not None and isinstance(value, str) and len(value) > longest:
                raise RPCError(
                    INVALID_PARAMS,
                    f"Invalid params: {self.name!r} is {len(value)} characters long; "
                    f"at most {longest} are allowed.",
                )
            return value
        names = self.schema["type"]
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: {self.name!r} must be "
            f"{names if isinstance(names, str) else ' or '.join(names)}, "
            f"not {type(value).__name__} ({_short(value)}).",
        )


@dataclasses.dataclass(frozen=True)
class Procedure:
    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    summary: str
    result: dict[str, Any]

    def bind(self, params: list[Any] | dict[str, Any]) -> dict[str, Any]:
        """Match positional or named params to the declaration; raise INVALID_PARAMS."""
        if isinstance(params, list):
            if len(params) > len(self.params):
                raise RPCError(
                    INVALID_PARAMS,
                    f"Invalid params: {self.name} takes at most {len(self.params)} "
                    f"params ({self._names()}), got {len(params)}.",
                )
            given = dict(zip((p.name for p in self.params), params, strict=False))
        else:
            extra = sorted(set(params) - {p.name for p in self.params})
            if extra:
                raise RPCError(
                    INVALID_PARAMS,
                    f"Invalid params: {self.name} has no param(s) {', '.join(map(repr, extra))}; "
                    f"it takes {self._names()}.",
                )
            given = params
        bound = {}
        for param in self.params:
            if param.name in given:
                bound[param.name] = param.check(given[param.name])
            elif param.required:
                raise RPCError(
                    INVALID_PARAMS,
                    f"Invalid params: {self.name} needs {param.name!r} ({self._names()}).",
                )
            else:
                bound[param.name] = param.default
        return bound

    def _names(self) -> str:
        return ", ".join(p.name if p.required else f"{p.name}?" for p in self.params) or "none"


PROCEDURES: dict[str, Procedure] = {}


def procedure(
    name: str, *params: Param, summary: str, result: dict[str, Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        PROCEDURES[name] = Procedure(name, func, params, summary, result)
        return func

    return register


def call(context: CallContext, method: str, params: list[Any] | dict[str, Any]) -> Any:
    """Run one procedure; raise RPCError for anything the caller got wrong."""
    proc = PROCEDURES.get(method)
    if proc is None:
        raise RPCError(METHOD_NOT_FOUND, f"Method not found: {_short(method)}.")
    return proc.func(context, **proc.bind(params))


# -- parameters shared by several procedures --------------------------------

TOKEN = Param("token", {"type": "string", "maxLength": 128}, "A token from a connect method.")
TTL = Param(
    "ttl",
    {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_SECONDS},
    "Seconds of inactivity after which the token expires.",
    DEFAULT_TTL_SECONDS,
)
IDENTIFIER = Param("identifier", {"type": "string"}, 'A berryMQ identifier, "name:action".')
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


def _ttl(value: float) -> float:
    if not 0 < value <= MAX_TTL_SECONDS:
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: 'ttl' must be more than 0 and at most {MAX_TTL_SECONDS} seconds, "
            f"not {value!r}.",
        )
    return float(value)


def _identifier(context: CallContext, text: str, name: str = "identifier") -> str:
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
        raise RPCError(INVALID_PARAMS, f"Invalid params: {exc}") from None
    if ident.is_local:
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: {text!r} is local (its name starts with '_'); local messages "
            "never cross processes.",
        )
    return text


def _open(context: CallContext, style: Style, ttl: float, **fields: Any) -> str:
    connection = Connection(new_token(), context.principal, style, _ttl(ttl), **fields)
    context.dispatcher.backend.open_connection(connection)
    return connection.token


def _connection(context: CallContext, token: str) -> Connection:
    connection = context.dispatcher.backend.get_connection(token)
    if connection is None or connection.principal != context.principal:
        # The same answer for unknown, expired and foreign tokens: no oracle.
        raise RPCError(INVALID_TOKEN, "invalid token")
    return connection


def _message(context: CallContext, data: Any, index: int) -> tuple[Message, str | None]:
    """Build messages[index] from its wire dict, validating every field.

    Return it with the uid its sender gave (None if none). A bad field is an
    INVALID_PARAMS error whose data names the index, so a sender can drop
    just that message.
    """
    where = f"messages[{index}]"

    def refuse(problem: str) -> RPCError:
        return RPCError(INVALID_PARAMS, f"Invalid params: {where}{problem}", {"index": index})

    def check_identifier(text: Any, field: str) -> str:
        if not isinstance(text, str):
            raise refuse(f".{field} must be a string identifier.")
        try:
            return _identifier(context, text, f"{where}.{field}")
        except RPCError as exc:
            raise refuse(f": {exc.message.removeprefix('Invalid params: ')}") from None

    if not isinstance(data, dict):
        raise refuse(" must be an object.")
    text = check_identifier(data.get("id"), "id")
    args = data.get("args")
    args = [] if args is None else args
    kwargs = data.get("kwargs")
    kwargs = {} if kwargs is None else kwargs
    uid = data.get("uid")
    origin = data.get("origin")
    timestamp = data.get("timestamp")
    for field, value, kind in (
        ("args", args, list),
        ("kwargs", kwargs, dict),
        ("uid", uid, str | None),
        ("origin", origin, str | None),
        ("timestamp", timestamp, int | float | None),
    ):
        if not isinstance(value, kind) or value is True or value is False:
            raise refuse(f".{field} has the wrong type ({type(value).__name__}).")
    if (uid is not None and len(uid) > 128) or (origin is not None and len(origin) > 200):
        raise refuse(".uid or .origin is too long.")
    if timestamp is not None and not math.isfinite(timestamp):
        timestamp = None
    reply_to = data.get("reply_to")
    if reply_to is not None:
        check_identifier(reply_to, "reply_to")
    uid = uid or None
    origin = origin or f"rpc:{context.principal}"
    # The sender's timestamp is kept: it is when the message was sent, not when it came in.
    return Message(text, tuple(args), kwargs, origin, uid, timestamp, reply_to), uid


def _accept(context: CallContext, message: Message, uid: str | None) -> bool:
    """Send message here unless its uid was accepted recently; return whether it was new."""
    dispatcher = context.dispatcher
    if uid is not None and not dispatcher.backend.accept_uid(uid, context.limits.dedup_seconds):
        return False
    dispatcher.send(message)
    return True


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
        {"type": ["string", "array"]},
        "The caller's endpoint URL (or an original client's [host, port]).",
    ),
    Param("token", {"type": "string", "maxLength": 128}, "The caller's token for calling back."),
    TTL,
    summary="Connect as equals (style 01): both sides forward non-local messages to each other.",
    result=TOKEN_RESULT,
)
def interconnect(context: CallContext, addr: str | list[Any], token: str, ttl: float) -> str:
    url = _addr(addr)
    if not (token and token.isascii() and token.isprintable() and " " not in token):
        # We present it in an Authorization header when calling back.
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: 'token' must be printable ASCII without spaces, not {_short(token)}.",
        )
    ours = _open(context, "interconnect", ttl, addr=url, remote_token=token)
    # Call the peer back on its token: that is style 01's other half.
    peers_for(context.dispatcher).add_callback(url, token, _ttl(ttl), context.principal)
    return ours


def _addr(addr: str | list[Any]) -> str:
    if isinstance(addr, list):
        if (
            len(addr) != 2
            or not isinstance(addr[0], str)
            or not isinstance(addr[1], int)
            or isinstance(addr[1], bool)
            or not 0 < addr[1] < 65536
        ):
            raise RPCError(
                INVALID_PARAMS,
                f"Invalid params: 'addr' must be a URL or [host, port], not {addr!r}.",
            )
        return f"http://{addr[0]}:{addr[1]}/"
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(addr) > 2000:
        raise RPCError(
            INVALID_PARAMS, f"Invalid params: 'addr' must be an http(s) URL, not {_short(addr)}."
        )
    return addr


@procedure(
    "connect_via_queue",
    IDENTIFIER,
    TTL,
    summary="Create a queue here for identifier that the caller pulls (style 03).",
    result=TOKEN_RESULT,
)
def connect_via_queue(context: CallContext, identifier: str, ttl: float) -> str:
    identifier = _identifier(context, identifier)
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
    _identifier(context, identifier)
    # bind() already checked the types and lengths of the rest.
    uid = uid or None
    origin = origin or f"rpc:{context.principal}"
    _accept(context, Message(identifier, tuple(args or ()), kwargs, origin, uid), uid)
    return "ok"


@procedure(
    "send_messages",
    TOKEN,
    Param(
        "messages",
        {"type": "array", "items": MESSAGE_RESULT},
        "Messages as {id, args, kwargs, uid?, origin?}; all are checked before any is sent.",
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
    built = [_message(context, data, i) for i, data in enumerate(messages)]
    # One dedup round for the batch: a shared backend answers it in one round trip.
    fresh = context.dispatcher.backend.accept_uids(
        [uid for _, uid in built if uid is not None], context.limits.dedup_seconds
    )
    send = context.dispatcher.send
    accepted = 0
    for message, uid in built:
        if uid is None or fresh.get(uid, False):
            send(message)
            accepted += 1
            if uid is not None:
                fresh[uid] = False  # the same uid twice in one batch is a duplicate too
    return {"accepted": accepted, "duplicates": len(built) - accepted}


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
)
def get(context: CallContext, token: str, block: bool, timeout: float | None) -> dict[str, Any]:
    if timeout is not None and timeout < 0:
        raise RPCError(
            INVALID_PARAMS, f"Invalid params: 'timeout' must be 0 or more, not {timeout}."
        )
    cap = context.limits.max_poll_seconds
    wait = context.wait_budget(cap if timeout is None else min(timeout, cap))
    return _pull(context, token, block and wait > 0, wait)


@procedure(
    "get_nowait",
    TOKEN,
    summary="Pull the oldest message of a queue connection, or fail with timeout at once.",
    result=MESSAGE_RESULT,
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
    queue = context.dispatcher.backend.connection_queue(connection)
    try:
        message = queue.get(block, wait) if block else queue.get_nowait()
    except Empty:
        raise RPCError(TIMEOUT, "timeout") from None
    return message.to_dict()


@procedure("close_connection", TOKEN, summary="Close a connection and its queue.", result=OK)
def close_connection(context: CallContext, token: str) -> str:
    connection = _connection(context, token)
    context.dispatcher.backend.close_connection(token)
    if connection.style == "interconnect" and connection.addr:
        peers_for(context.dispatcher).remove(callback_name(connection.principal, connection.addr))
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
    _identifier(context, identifier)
    _identifier(context, callback_identifier, "callback_identifier")
    return context.dispatcher.talk(identifier, callback_identifier, *(args or ()), **(kwargs or {}))


@procedure(
    "status",
    summary="Report this node: name, backend, connections and counters (key holders only).",
    result={"type": "object"},
)
def status(context: CallContext) -> dict[str, Any]:
    if context.anonymous:
        raise RPCError(FORBIDDEN, "status needs an API key or a staff session.")
    dispatcher = context.dispatcher
    backend = dispatcher.backend
    styles: dict[str, int] = {}
    for connection in backend.connections():
        styles[connection.style] = styles.get(connection.style, 0) + 1
    report: dict[str, Any] = {
        "node": dispatcher.node_name,
        "backend": f"{type(backend).__module__}.{type(backend).__qualname__}",
        "connections": sum(styles.values()),
        "connections_by_style": styles,
        "follower_errors": dispatcher.error_count,
        "groups": dispatcher.groups(),
    }
    report["backend_status"] = backend.status()
    report["peers"] = peers_for(dispatcher).status()
    return report


@procedure(
    "rpc.discover",
    summary="Describe every method as an OpenRPC document.",
    result={"type": "object"},
)
def discover(context: CallContext) -> dict[str, Any]:
    return openrpc_document()


def openrpc_document() -> dict[str, Any]:
    """Return the OpenRPC 1.2 document of every procedure."""
    from .. import __version__

    return {
        "openrpc": "1.2.6",
        "info": {
            "title": "berryMQ",
            "version": __version__,
            "description": "berryMQ's JSON-RPC protocol; see the README's protocol section.",
        },
        "methods": [
            {
                "name": proc.name,
                "summary": proc.summary,
                "paramStructure": "either",
                "params": [
                    {
                        "name": p.name,
                        "description": p.description,
                        "required": p.required,
                        "schema": p.schema,
                    }
                    for p in proc.params
                ],
                "result": {"name": "result", "schema": proc.result},
            }
            for proc in PROCEDURES.values()
        ],
    }


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
