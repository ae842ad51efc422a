"""Answer a JSON-RPC request body: single calls, batches and notifications. No I/O, no Django."""

from __future__ import annotations

import logging
import time
from typing import Any

from .context import CallContext
from .methods import call
from .protocol import (
    INTERNAL_ERROR,
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


def handle_body(
    body: bytes, context: CallContext, *, max_batch: int, max_depth: int
) -> bytes | None:
    """Return the response body for a request body, or None when nothing is to be answered."""
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
        responses = [r for r in (_answer(item, context) for item in payload) if r is not None]
        return encode(responses) if responses else None
    response = _answer(payload, context)
    return None if response is None else encode(response)


def _answer(obj: Any, context: CallContext) -> dict[str, Any] | None:
    """Run one request object; return its response, or None for a notification."""
    try:
        request = parse_request(obj)
    except RPCError as error:
        return error_response(error)
    try:
        result = call(context, request.method, request.params)
    except RPCError as error:
        return None if request.is_notification else error_response(error, request)
    except Exception:
        logger.exception("berryMQ RPC method %r failed", request.method)
        failure = RPCError(
            INTERNAL_ERROR, f"Internal error in {request.method!r}; see the server log."
        )
        return None if request.is_notification else error_response(failure, request)
    return None if request.is_notification else result_response(request, result)
