"""The procedures' event-loop twins: what an ASGI endpoint awaits instead of calling.

A twin takes the same params (checked by the same schema), gives the same
results and errors, and waits without holding a thread. ``get`` is the one
procedure that waits, so it is the one with a twin; every other procedure
runs as it is, in a thread (see ``server.ahandle_body``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..core.message import Message
from ..core.store import Empty
from .connections import AwaitableQueue, ConnectionQueue
from .context import CallContext
from .methods import _connection, get, registry
from .protocol import INVALID_PARAMS, TIMEOUT, RPCError

__all__ = ["ASYNC_PROCEDURES", "BLOCKING_GETS", "acall", "aget"]

T = TypeVar("T")

#: Procedures with an event-loop twin (``acall`` awaits it), by name.
ASYNC_PROCEDURES = registry.awaitables
acall = registry.acall

#: Gets that must block (on a shared state) at once, each in a thread of its own as
#: under WSGI; Python's default executor has a handful of threads, each of which a
#: waiting get would hold for its whole poll. Threads start as needed and are reused.
BLOCKING_GETS = 4096
_blocking = ThreadPoolExecutor(max_workers=BLOCKING_GETS, thread_name_prefix="berrymq-get")


def _in_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(_blocking, context.run, fn, *args)


@registry.awaitable("get")
async def aget(
    context: CallContext, token: str, block: bool, timeout: float | None
) -> dict[str, Any]:
    """Answer get on an event loop: wait on the queue without holding a thread.

    A shared state (Redis) reads over the network and its queues cannot be
    awaited: there the call runs as ``get`` in a thread of its own.
    """
    if context.state.shared:
        return await _in_thread(get, context, token, block, timeout)
    cap = context.limits.max_poll_seconds
    wait = context.wait_budget(cap if timeout is None else min(timeout, cap))
    queue = _queue(context, token)
    try:
        if block and wait > 0 and isinstance(queue, AwaitableQueue):
            ready = _ready(context, queue)
            message = ready if ready is not None else await queue.aget(wait)
        elif block and wait > 0:
            message = await _in_thread(queue.get, True, wait)
        else:
            message = queue.get_nowait()
    except Empty:
        raise RPCError(TIMEOUT, "timeout") from None
    return message.to_dict()


def _ready(context: CallContext, queue: AwaitableQueue) -> Message | None:
    """Take a message already queued, or tell the context the call is about to wait.

    Only for a context with ``before_wait``; otherwise the wait takes what is
    queued itself.
    """
    if context.before_wait is None:
        return None
    try:
        return queue.get_nowait()
    except Empty:
        context.before_wait()
        return None


def _queue(context: CallContext, token: str) -> ConnectionQueue:
    # methods._pull's refusals, word for word (tests/rpc/test_async_parity.py compares).
    connection = _connection(context, token)
    if connection.style != "queue":
        raise RPCError(
            INVALID_PARAMS,
            f"Invalid params: this token is a {connection.style} connection; "
            "only connect_via_queue tokens can get.",
        )
    return context.state.connection_queue(connection)
