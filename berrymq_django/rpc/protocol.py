"""JSON-RPC 2.0 and 1.0 framing: decode requests, encode responses. No I/O, no Django.

A request carrying ``"jsonrpc": "2.0"`` is answered in 2.0 form. One
without the member is a 1.0 request, answered the way berryMQ 0.3's server
answered, so that 0.3's clients work unchanged:

* every 1.0 request is answered, ``"id": null`` included (0.3's client
  sends null on every call and waits for the answer; 1.0 would call that a
  notification, which gets none);
* the answer is ``{"result": ..., "error": null, "id": ...}``;
* the application errors "invalid token" and "timeout" are the string
  results ``"invalid token"`` and ``"timeout"``;
* ``get`` and ``get_nowait`` return a message as the array
  ``[identifier, args, kwargs]`` that 0.3's client unpacks.

Error codes (the spec's, then berryMQ's own in -32000..-32099):

====== ================ ==================================================
code   name             when
====== ================ ==================================================
-32700 parse error      the body is not JSON, or not UTF-8
-32600 invalid request  not a request object, bad "jsonrpc", id or params
-32601 method not found no such method
-32602 invalid params   missing, extra or mistyped params; bad identifier
-32603 internal error   an unexpected failure (logged on the server)
-32000 invalid token    token unknown, expired, or another principal's
-32001 timeout          get/get_nowait found no message in time
-32003 forbidden        authenticated, but not allowed to call
-32004 unauthenticated  no valid credentials
-32010 limit exceeded   a BERRYMQ limit (body, batch, depth, messages)
-32029 throttled        too many requests (DRF throttling)
====== ================ ==================================================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "FORBIDDEN",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "INVALID_TOKEN",
    "LIMIT_EXCEEDED",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "PROTOCOL_VERSION",
    "THROTTLED",
    "TIMEOUT",
    "UNAUTHENTICATED",
    "RPCError",
    "Request",
    "decode_body",
    "encode",
    "error_response",
    "parse_request",
    "result_response",
]

#: The version of the protocol docs/protocol.rst describes, which ``status`` reports:
#: within 1.x, methods, params, results and error codes only grow (see its rules).
PROTOCOL_VERSION = "1.0"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
INVALID_TOKEN = -32000
TIMEOUT = -32001
FORBIDDEN = -32003
UNAVAILABLE = -32005
UNAUTHENTICATED = -32004
LIMIT_EXCEEDED = -32010
THROTTLED = -32029

# The original protocol's answers, returned as results to 1.0 clients.
V1_STRING_RESULTS = {INVALID_TOKEN: "invalid token", TIMEOUT: "timeout"}


def _v1_message(result: Any) -> Any:
    """Return a message result as 0.3 sent it: [identifier, args, kwargs]."""
    if isinstance(result, dict):
        return [result.get("id"), result.get("args", []), result.get("kwargs", {})]
    return result


# Results whose 1.0 form differs from the 2.0 one, by method.
V1_RESULT_FORMS: dict[str, Callable[[Any], Any]] = {"get": _v1_message, "get_nowait": _v1_message}


class RPCError(Exception):
    """A JSON-RPC error to send back: a code, a message saying what was wrong, optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def limit_exceeded(
    setting: str, limit: int, got: int, what: str, *, capped: bool = False
) -> RPCError:
    """Return the LIMIT_EXCEEDED error for setting; data is {"setting", "limit", "got"}.

    ``capped``: got was counted only up to limit + 1 (the rest was never
    looked at), so the message says "more than" the limit.
    """
    amount = f"more than {limit}" if capped and got > limit else str(got)
    return RPCError(
        LIMIT_EXCEEDED,
        f"{what} is {amount}; the limit (BERRYMQ {setting!r}) is {limit}.",
        {"setting": setting, "limit": limit, "got": got},
    )


@dataclass(slots=True)
class Request:
    """One call. ``is_notification``: no response is wanted (2.0 only). ``v1``: a 1.0 call."""

    method: str
    params: list[Any] | dict[str, Any]
    id: Any
    is_notification: bool
    v1: bool


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    # As orjson does: 1e999 would become infinity, which JSON cannot carry back.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def decode_body(body: bytes, max_depth: int) -> Any:
    """Parse a request body; raise RPCError (parse error or MAX_DEPTH limit) naming the problem.

    A body nested deeper than max_depth is refused as such, never as a parse
    error, however deep: the parsers give up at about 1,000 levels, so when
    they fail the brackets are counted first (up to max_depth + 1, no further).
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        openers = body.count(b"[") + body.count(b"{")
        depth = openers if openers <= max_depth else _text_depth(body, max_depth)
        if depth > max_depth:
            raise limit_exceeded(
                "MAX_DEPTH", max_depth, depth, "JSON nesting depth", capped=True
            ) from None
        payload = _loads_fallback(body, exc, max_depth)
    # Cheap bound first: fewer brackets than the limit cannot nest deeper than it.
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return payload
    depth = _json_depth(body, max_depth)
    if depth > max_depth:
        raise limit_exceeded("MAX_DEPTH", max_depth, depth, "JSON nesting depth", capped=True)
    return payload


def _loads_fallback(body: bytes, exc: orjson.JSONDecodeError, max_depth: int) -> Any:
    """Parse what orjson refused with the standard parser, which takes lone surrogate escapes."""
    try:
        return json.loads(
            body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except UnicodeDecodeError as uexc:
        raise RPCError(PARSE_ERROR, f"Parse error: the body is not UTF-8 ({uexc}).") from None
    except RecursionError:
        # Only when MAX_DEPTH is set near or above what the parsers follow.
        raise RPCError(
            PARSE_ERROR,
            "Parse error: the body nests deeper than the JSON parser follows (about 1000 "
            f"levels); BERRYMQ 'MAX_DEPTH' ({max_depth}) should stay below that.",
        ) from None
    except ValueError as vexc:
        # Name the stricter parser's complaint unless only the fallback found one.
        detail = vexc if "out of range" in str(vexc) else exc
        raise RPCError(PARSE_ERROR, f"Parse error: {detail}.") from None


# A string, unterminated too, or one bracket: counting brackets skips strings whole.
_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_OPENERS = (b"[", b"{")
_CLOSERS = (b"]", b"}")


def _text_depth(body: bytes, limit: int) -> int:
    """Return how deep the brackets of body nest outside strings, stopping once past limit.

    For bodies no parser took: it needs no valid JSON, and never looks past
    the bracket that goes over the limit.
    """
    depth = deepest = 0
    for match in _STRUCTURE.finditer(body):
        token = match.group()
        if token in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in _CLOSERS and depth:
            depth -= 1
    return deepest


# For _json_depth: brackets become parentheses, and everything but them and quotes goes.
_PARENTHESES = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
_QUOTED = re.compile(rb'"[^"]*"')


def _json_depth(body: bytes, limit: int) -> int:
    """Return how deep the brackets of a valid JSON text nest, stopping once past limit.

    The same figure as walking the parsed value, in a few passes of C string
    methods rather than a Python step per node (it runs on every batch):
    escapes go, then every byte but brackets and quotes; what is left of the
    strings goes (two adjacent quotes can always go: the bytes after them keep
    whether they are inside a string); then each pass removes the innermost
    pairs, one level, until nothing is left.
    """
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(_PARENTHESES, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:  # a string holding brackets
        skeleton = _QUOTED.sub(b"", skeleton)
    depth = 0
    while skeleton and depth <= limit:
        depth += 1
        skeleton = skeleton.replace(b"()", b"")
    return depth


def parse_request(obj: Any) -> Request:
    """Validate one request object; raise RPCError(INVALID_REQUEST) saying why not."""
    if not isinstance(obj, dict):
        raise RPCError(
            INVALID_REQUEST,
            f"Invalid Request: expected an object, got {_json_type(obj)}.",
        )
    v1 = "jsonrpc" not in obj
    if not v1 and obj["jsonrpc"] != "2.0":
        raise RPCError(
            INVALID_REQUEST, f"Invalid Request: 'jsonrpc' must be \"2.0\", not {obj['jsonrpc']!r}."
        )
    request_id = obj.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | float | None):
        raise RPCError(
            INVALID_REQUEST,
            "Invalid Request: 'id' must be a string, number or null, "
            f"not {_json_type(request_id)}.",
        )
    method = obj.get("method")
    if not isinstance(method, str):
        raise RPCError(
            INVALID_REQUEST,
            f"Invalid Request: 'method' must be a string, not {_json_type(method)}.",
        )
    params = obj.get("params", [])
    if v1 and not isinstance(params, list):
        raise RPCError(
            INVALID_REQUEST,
            f"Invalid Request: JSON-RPC 1.0 'params' must be an array, not {_json_type(params)}.",
        )
    if not isinstance(params, list | dict):
        raise RPCError(
            INVALID_REQUEST,
            f"Invalid Request: 'params' must be an array or an object, not {_json_type(params)}.",
        )
    # 2.0: a request without "id" is a notification. 1.0 would make a null id one,
    # but berryMQ 0.3's client sends null on every call and waits for the answer.
    is_notification = not v1 and "id" not in obj
    return Request(method, params, request_id, is_notification, v1)


def result_response(request: Request, result: Any) -> dict[str, Any]:
    """Build the response to a call that returned result; 1.0 in the form 0.3 gave it."""
    if request.v1:
        form = V1_RESULT_FORMS.get(request.method)
        return {"result": result if form is None else form(result), "error": None, "id": request.id}
    return {"jsonrpc": "2.0", "result": result, "id": request.id}


def error_response(
    error: RPCError, request: Request | None = None, *, v1: bool = False
) -> dict[str, Any]:
    """Build the error response; for 1.0 clients, berryMQ's string results where they apply.

    Without a request (it could not be read) the id is null, and ``v1``
    chooses the 1.0 form for a body that was a 1.0 object all the same.
    """
    request_id = request.id if request is not None else None
    if request is not None and request.v1:
        if error.code in V1_STRING_RESULTS:
            return {"result": V1_STRING_RESULTS[error.code], "error": None, "id": request_id}
        return {"result": None, "error": error.to_dict(), "id": request_id}
    if request is None and v1:
        return {"result": None, "error": error.to_dict(), "id": None}
    return {"jsonrpc": "2.0", "error": error.to_dict(), "id": request_id}


#: The deepest nesting a response may have: orjson's own limit, which, unlike the
#: standard encoder's, does not depend on how deep the caller's stack is.
WRITE_DEPTH = 254


def encode(payload: Any) -> bytes:
    """Serialize a response; values orjson cannot take are written with str().

    Raise ValueError when no JSON can hold the payload: a value that refers
    to itself, or nests WRITE_DEPTH levels or deeper. The same payload gives
    the same answer wherever it is written, whatever the stack depth.
    """
    try:
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" in str(exc):  # orjson's words for both: refused everywhere
            raise ValueError(
                "the response cannot be written as JSON: a value in it refers to itself "
                f"or nests {WRITE_DEPTH} levels or deeper"
            ) from None
        # Lone surrogates ("\ud800") and integers beyond 64 bits: valid JSON that
        # orjson will not write; the standard encoder escapes them. Infinities and
        # NaN become null, as orjson writes them.
        try:
            return json.dumps(
                _finite(payload), default=str, ensure_ascii=True, allow_nan=False
            ).encode()
        except (RecursionError, ValueError):  # within WRITE_DEPTH: only a huge stack
            raise ValueError(
                "the response cannot be written as JSON: a value in it refers to itself "
                f"or nests {WRITE_DEPTH} levels or deeper"
            ) from None


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
