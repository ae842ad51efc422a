"""Answer a JSON-RPC request body: single calls, batches and notifications. No I/O, no Django.

Each call runs inside ``isolate()``, a context manager the caller supplies
(a database savepoint, when the request is in a transaction): a call that
fails raises through it before it becomes an error response, so its writes
are undone while those of the calls around it in a batch stand. A result
is written as JSON inside it too: one that cannot be (it refers to itself,
say) fails its call like any other error, and a batch's other answers stand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ..core.exceptions import BackendUnavailable, UnencodableMessage
from .context import CallContext
from .methods import call
from .protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    RPCError,
    decode_body,
    encode,
    error_response,
    limit_exceeded,
    parse_request,
    result_response,
)

__all__ = ["handle_body"]

logger = logging.getLogger("berrymq.rpc")


Isolation = Callable[[], AbstractContextManager[object]]


def handle_body(
    body: bytes,
    context: CallContext,
    *,
    max_batch: int,
    max_depth: int,
    isolate: Isolation = nullcontext,
) -> bytes | None:
    """Return the response body for a request body, or None when nothing is to be answered.

    ``isolate()`` is entered around each call; a failing call's exception
    passes through it (see the module docstring).
    """
    if context.deadline is None:
        context.deadline = time.monotonic() + context.limits.max_poll_seconds
    try:
        payload = decode_body(body, max_depth)
    except RPCError as error:
        return encode(error_response(error))
    if isinstance(payload, list):
        if not payload:
            return encode(
                error_response(RPCError(INVALID_REQUEST, "Invalid Request: empty batch."))
            )
        if len(payload) > max_batch:
            too_long = limit_exceeded("MAX_BATCH", max_batch, len(payload), "The batch length")
            return encode(error_response(too_long))
        answers = (_answer(item, context, isolate) for item in payload)
        responses = [r for r in answers if r is not None]
        return b"[" + b",".join(responses) + b"]" if responses else None
    return _answer(payload, context, isolate)


def _answer(obj: Any, context: CallContext, isolate: Isolation) -> bytes | None:
    """Run one request object; return its encoded response, or None for a notification."""
    try:
        request = parse_request(obj)
    except RPCError as error:
        return encode(error_response(error, v1=_looks_v1(obj)))
    try:
        with isolate():
            result = call(context, request.method, request.params)
            return None if request.is_notification else encode(result_response(request, result))
    except RPCError as error:
        return None if request.is_notification else encode(error_response(error, request))
    except BackendUnavailable:
        raise  # the whole request is answered "try again later" (HTTP 503)
    except UnencodableMessage as exc:  # the caller's data: a refusal it should not retry
        refused = RPCError(INVALID_PARAMS, f"Invalid params: {exc}")
        return None if request.is_notification else encode(error_response(refused, request))
    except Exception:
        logger.exception("berryMQ RPC method %r failed", request.method)
        crashed = RPCError(
            INTERNAL_ERROR, f"Internal error in {request.method!r}; see the server log."
        )
        return None if request.is_notification else encode(error_response(crashed, request))


def _looks_v1(obj: Any) -> bool:
    """Tell a 1.0 call with bad params or id (answered in 1.0) from a non-request (in 2.0)."""
    return isinstance(obj, dict) and "jsonrpc" not in obj and isinstance(obj.get("method"), str)
