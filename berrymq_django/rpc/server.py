"""Answer a JSON-RPC request body: single calls, batches and notifications. No I/O, no Django.

Each call runs inside ``isolate()``, a context manager the caller supplies
(a database savepoint, when the request is in a transaction): a call that
fails raises through it before it becomes an error response, so its writes
are undone while those of the calls around it in a batch stand. A result
is written as JSON inside it too: one that cannot be (it refers to itself,
say) fails its call like any other error, and a batch's other answers stand.

``ahandle_body`` answers on an event loop (under ASGI) with the same bytes:
a procedure with an awaitable implementation (``get``, whose wait holds no
thread) is awaited, every other call runs as ``handle_body`` runs it, in the
thread the caller's ``run_sync`` hands it to. Under ASGI the request is not
in a transaction (Django serves ATOMIC_REQUESTS views synchronously), so
there is no savepoint to isolate the calls in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, Protocol, TypeVar

from ..core.exceptions import BackendUnavailable, UnencodableMessage
from .awaitables import ASYNC_PROCEDURES, acall
from .context import CallContext
from .methods import call, registry
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

__all__ = ["RunSync", "aanswer_call", "ahandle_body", "handle_body"]

logger = logging.getLogger("berrymq.rpc")


Isolation = Callable[[], AbstractContextManager[object]]
T = TypeVar("T")


class RunSync(Protocol):
    """Run a sync function off the event loop: ``await run_sync(fn)`` returns ``fn()``."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


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
        refused = _refused_batch(payload, max_batch)
        if refused is not None:
            return refused
        return _join([_answer(item, context, isolate) for item in payload])
    return _answer(payload, context, isolate)


async def ahandle_body(
    body: bytes,
    context: CallContext,
    *,
    max_batch: int,
    max_depth: int,
    run_sync: RunSync,
) -> bytes | None:
    """Answer a request body on an event loop: the same bytes as ``handle_body``.

    A call with an awaitable implementation (``get``: it waits without a
    thread) is awaited here; the others, consecutive ones together, run as
    ``handle_body`` runs them, through ``run_sync(fn)``, which returns an
    awaitable of fn's result (Django's ``sync_to_async``, say).
    """
    if context.deadline is None:
        context.deadline = time.monotonic() + context.limits.max_poll_seconds
    try:
        payload = decode_body(body, max_depth)
    except RPCError as error:
        return encode(error_response(error))
    batch = isinstance(payload, list)
    if batch and (refused := _refused_batch(payload, max_batch)) is not None:
        return refused
    answers: list[bytes | None] = []
    waiting: list[Any] = []  # sync calls not yet run, in order
    for item in payload if batch else [payload]:
        method = item.get("method") if isinstance(item, dict) else None
        if not (isinstance(method, str) and method in ASYNC_PROCEDURES):
            waiting.append(item)
            continue
        if waiting:
            answers += await run_sync(partial(_answer_all, waiting, context))
            waiting = []
        answers.append(await _aanswer(item, context))
    if waiting:
        answers += await run_sync(partial(_answer_all, waiting, context))
    return _join(answers) if batch else answers[0]


def aanswer_call(call: dict[str, Any], context: CallContext) -> Awaitable[bytes | None]:
    """Answer one decoded call of an awaitable procedure (``get``): what ``ahandle_body`` gives.

    For a caller that has decoded the body already and found one such call
    (``long_polls.serve``); the awaitable gives None for a notification.
    """
    if context.deadline is None:
        context.deadline = time.monotonic() + context.limits.max_poll_seconds
    return _aanswer(call, context)


def _refused_batch(payload: list[Any], max_batch: int) -> bytes | None:
    """Return the error answer of a batch that is empty or too long; None for a good one."""
    if not payload:
        return encode(error_response(RPCError(INVALID_REQUEST, "Invalid Request: empty batch.")))
    if len(payload) > max_batch:
        too_long = limit_exceeded("MAX_BATCH", max_batch, len(payload), "The batch length")
        return encode(error_response(too_long))
    return None


def _join(answers: list[bytes | None]) -> bytes | None:
    responses = [r for r in answers if r is not None]
    return b"[" + b",".join(responses) + b"]" if responses else None


def _answer_all(items: list[Any], context: CallContext) -> list[bytes | None]:
    return [_answer(item, context, nullcontext) for item in items]


def _answer(obj: Any, context: CallContext, isolate: Isolation) -> bytes | None:
    """Run one request object; return its encoded response, or None for a notification."""
    try:
        request = parse_request(obj)
    except RPCError as error:
        return encode(error_response(error, v1=_looks_v1(obj)))
    if request.is_notification and not registry.runs_as_notification(request.method):
        return None  # a get nobody will read: it takes nothing
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


async def _aanswer(obj: dict[str, Any], context: CallContext) -> bytes | None:
    """Run one call of an awaitable procedure; the same answer ``_answer`` gives."""
    try:
        request = parse_request(obj)
    except RPCError as error:
        return encode(error_response(error, v1=_looks_v1(obj)))
    if request.is_notification and not registry.runs_as_notification(request.method):
        return None  # a get nobody will read: it takes nothing
    try:
        result = await acall(context, request.method, request.params)
        return None if request.is_notification else encode(result_response(request, result))
    except RPCError as error:
        return None if request.is_notification else encode(error_response(error, request))
    except BackendUnavailable:
        raise
    except Exception:
        logger.exception("berryMQ RPC method %r failed", request.method)
        crashed = RPCError(
            INTERNAL_ERROR, f"Internal error in {request.method!r}; see the server log."
        )
        return None if request.is_notification else encode(error_response(crashed, request))


def _looks_v1(obj: Any) -> bool:
    """Tell a 1.0 call with bad params or id (answered in 1.0) from a non-request (in 2.0)."""
    return isinstance(obj, dict) and "jsonrpc" not in obj and isinstance(obj.get("method"), str)
