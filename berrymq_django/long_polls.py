"""Waiting gets answered before Django's request cycle: the lean half of ``LongPollMiddleware``.

A long poll spends nearly all its life waiting, and under ASGI what it holds
while it waits is memory: Django's handler gives each request an
``ASGIRequest`` with its META, a spooled body file, a task to run the view
and another to listen for the client leaving, and the view's coroutines on
top (about 15 KB a poll above the server's own, measured with
``python -m bench --only long_polls``). A waiting ``get`` needs none of it:
the caller, its body and the queue it awaits.

``serve`` takes one endpoint request from ``asgi.LongPollMiddleware`` and
answers it here only when all of these hold, so that the answer is the one
Django's path would give, byte for byte:

- the endpoint's pipeline is the default one (``APIKeyAuthentication``
  first, ``IsBerryMQClient``, no throttles: ``views._Pipeline.key_fast_path``)
  and the Authorization header carries a valid API key;
- the host passes ALLOWED_HOSTS, as ``HttpRequest.get_host`` checks it;
- the body, within MAX_BODY_BYTES, is one JSON-RPC call (2.0 or 1.0) of
  ``get``.

Anything else (another method, a batch, a session, a bad key, a bad or too
large body) goes on to the wrapped application with its body replayed, and
is answered there as ever. A served request runs no Django middleware and
sends no ``request_started`` / ``request_finished``: ``get`` touches no
database. A client that leaves while its poll waits withdraws the waiter at
once, and nothing is taken from its queue. A poll the server cancels (a
graceful shutdown's timeout) is answered HTTP 503, -32005, to be retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from .authentication import APIKeyAuthentication
from .core.exceptions import BackendUnavailable
from .rpc.protocol import RPCError, decode_body
from .rpc.server import aanswer_call
from .views import context_for, pipeline, respond, service_unavailable, unavailable

__all__ = ["serve"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def serve(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one POST to the endpoint: a waiting ``get`` here, anything else through app."""
    conf = pipeline()
    if not conf.key_fast_path:
        await app(scope, receive, send)
        return
    head = _head_meta(scope)
    principal = APIKeyAuthentication.principal_from_header(head.get("HTTP_AUTHORIZATION"))
    if principal is None:
        await app(scope, receive, send)  # Django refuses it, in its own words
        return
    received: list[Message] = []
    body = await _read_body(receive, conf.max_body, received)
    call = None if body is None else _one_get(body, conf.max_depth)
    if call is None or not _Head(scope, head).allowed():
        await app(scope, _replay(received, receive), send)
        return
    del received, body  # a waiting poll holds what it needs, no more
    answering = aanswer_call(call, context_for(principal, conf.limits))
    try:
        answer = await _unless_gone(answering, receive)
    except _Gone:
        return  # the waiter was withdrawn; nothing was taken
    except (BackendUnavailable, DatabaseError) as exc:
        await _send_response(send, unavailable(exc))
        return
    except asyncio.CancelledError:
        # The server gives up waiting for the request (uvicorn's --timeout-graceful-shutdown):
        # a JSON-RPC answer a client retries, not the server's plain-text 500. Answered,
        # the request is over, as the cancellation asked: no traceback per poll in the log.
        await _send_response(send, service_unavailable("the server is stopping"))
        task = asyncio.current_task()
        if task is None or task.uncancel() > 0:
            raise  # cancelled more than once: not only the server's doing
        return
    await _send_answer(send, answer)


_HEAD_NAMES = {
    b"authorization": "HTTP_AUTHORIZATION",
    b"host": "HTTP_HOST",
    b"x-forwarded-host": "HTTP_X_FORWARDED_HOST",
}


def _head_meta(scope: Scope) -> dict[str, str]:
    """Return the headers Django reads before a view runs, as ``ASGIRequest.META`` has them.

    Repeated headers are joined with "," as Django joins them: two
    Authorization headers are one invalid value.
    """
    meta: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = _HEAD_NAMES.get(bytes(name).lower())
        if key is not None:
            text = bytes(value).decode("latin-1")
            meta[key] = f"{meta[key]},{text}" if key in meta else text
    return meta


class _Head(HttpRequest):
    """Just enough of a request for ``HttpRequest.get_host``'s ALLOWED_HOSTS check.

    The host comes from Host, X-Forwarded-Host (with USE_X_FORWARDED_HOST)
    or the server's address, as for any request Django serves.
    """

    def __init__(self, scope: Scope, head: dict[str, str]) -> None:
        super().__init__()
        self._scope_scheme = str(scope.get("scheme") or "http")
        self.META.update(head)
        server = scope.get("server") or ("unknown", "0")
        self.META["SERVER_NAME"], self.META["SERVER_PORT"] = str(server[0]), str(server[1] or "0")

    def _get_scheme(self) -> str:
        return self._scope_scheme

    def allowed(self) -> bool:
        """Tell whether ALLOWED_HOSTS allows the request's host."""
        try:
            self.get_host()
        except DisallowedHost:
            return False
        return True


async def _read_body(receive: Receive, limit: int, received: list[Message]) -> bytes | None:
    """Read the body into received's messages; None when it passes limit or the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None  # gone before the body came: the app sees the disconnect
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None  # the app reads the rest and answers with MAX_BODY_BYTES
        if not message.get("more_body", False):
            return b"".join(chunks)


def _one_get(body: bytes, max_depth: int) -> dict[str, Any] | None:
    """Return the body's call when it is one call of ``get``, else None.

    A cheap look first: most bodies are not.
    """
    if b'"get"' not in body:
        return None
    try:
        payload = decode_body(body, max_depth)
    except RPCError:
        return None  # the app answers the parse error
    if isinstance(payload, dict) and payload.get("method") == "get":
        return payload
    return None


def _replay(received: list[Message], receive: Receive) -> Receive:
    """Return a receive that gives the messages already read, then reads on."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


class _Gone(Exception):
    """The client left while its call waited."""


async def _unless_gone(answering: Awaitable[bytes | None], receive: Receive) -> bytes | None:
    """Await the call in this task while another listens for the client leaving.

    When the client leaves first, the listener cancels this task's wait (the
    waiter is withdrawn, nothing taken) and ``_Gone`` is raised; a
    cancellation from elsewhere (the server shutting down) passes on.
    """
    task = asyncio.current_task()
    assert task is not None  # an ASGI app runs in a task
    listener = asyncio.ensure_future(_cancel_when_gone(receive, task))
    try:
        return await answering
    except asyncio.CancelledError:
        if listener.done() and not listener.cancelled() and task.uncancel() == 0:
            raise _Gone from None
        raise
    finally:
        listener.cancel()


async def _cancel_when_gone(receive: Receive, task: asyncio.Task[object]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


async def _send_answer(send: Send, answer: bytes | None) -> None:
    """Send the answer as ``views.respond`` makes it, Content-Length added."""
    if answer is None:  # a notification: 204, as Django's response for it
        await _send_response(send, respond(None))
        return
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


async def _send_response(send: Send, response: HttpResponse) -> None:
    """Send a Django response as its ASGI handler would, with Content-Length."""
    response.headers.setdefault("Content-Length", str(len(response.content)))
    headers = [(k.encode("ascii"), v.encode("latin-1")) for k, v in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
