"""ASGI middleware: the endpoint's requests share one thread for their sync code.

Django's ASGI handler gives every request a thread of its own for the sync
code it runs (its request_started and request_finished receivers, a sync
view): started on first use, stopped when the response is sent. For the
berryMQ endpoint that is a thread started and stopped per ``send_message``,
and a thread per waiting poll. Wrapped in ``EndpointThreadMiddleware``, the
endpoint's requests run their sync code in one long-lived thread instead,
as Django did before 3.2 for every request::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from berrymq_django.asgi import EndpointThreadMiddleware

    application = EndpointThreadMiddleware(get_asgi_application())

Other paths are passed through untouched. The shared thread runs one call
at a time, so the endpoint's sync work (followers of messages sent to it,
non-key authentication) is serialised as under one WSGI thread; its waits
are on the event loop and hold no thread at all. Django's per-request
thread goes by asgiref's ``ThreadSensitiveContext``: the outermost context
decides, and this middleware sets it for the endpoint's requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.urls import reverse

__all__ = ["ENDPOINT_THREAD", "SHARED_CONTEXT", "EndpointThreadMiddleware"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The one thread where the wrapped requests' sync code runs, for the life of the process.
ENDPOINT_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berrymq-endpoint")

#: The thread-sensitive context of every wrapped request: never entered, never
#: exited (Django's own context inside it is then a no-op), so ENDPOINT_THREAD
#: is never shut down.
SHARED_CONTEXT = ThreadSensitiveContext()
SyncToAsync.context_to_thread_executor[SHARED_CONTEXT] = ENDPOINT_THREAD


class EndpointThreadMiddleware:
    """Wrap an ASGI application: the berryMQ endpoint's sync code runs in one shared thread.

    paths are the exact request paths served so (default: the endpoint's,
    ``reverse("berrymq:rpc")``, worked out on the first request).
    """

    def __init__(self, app: ASGIApp, *, paths: list[str] | None = None) -> None:
        self.app = app
        self.paths = None if paths is None else frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.paths is None:
            self.paths = frozenset([reverse("berrymq:rpc")])
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        token = SyncToAsync.thread_sensitive_context.set(SHARED_CONTEXT)
        try:
            await self.app(scope, receive, send)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)
