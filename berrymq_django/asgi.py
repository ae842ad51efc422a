"""ASGI middleware for the berryMQ endpoint: lean long polls, and a few shared threads.

``LongPollMiddleware`` answers the endpoint's waiting gets that carry an API
key before Django's request cycle (``long_polls.py``): a waiting poll then
costs little more than the server's own connection. Everything else passes
on to the wrapped application untouched.

``EndpointThreadMiddleware`` lets the endpoint's requests share a few
long-lived threads for their sync code.

Django's ASGI handler gives every request a thread of its own for the sync
code it runs (its request_started and request_finished receivers, a sync
view): started on first use, stopped when the response is sent. For the
berryMQ endpoint that is a thread started and stopped per ``send_message``,
and a thread per waiting poll. Wrapped in ``EndpointThreadMiddleware``, the
endpoint's requests take turns on a small fixed set of threads instead
(``threads``, 8 by default), each request keeping to one of them from start
to end, as a database connection needs::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from berrymq_django.asgi import EndpointThreadMiddleware, LongPollMiddleware

    application = LongPollMiddleware(EndpointThreadMiddleware(get_asgi_application()))

Other paths are passed through untouched. A waiting poll holds none of the
threads (its wait is on the event loop); requests that share a thread run
their sync code one call at a time. Django's per-request thread goes by
asgiref's ``ThreadSensitiveContext``: the outermost context decides, and
this middleware sets it for the endpoint's requests. More than one thread
matters under load: each call into sync code is a hand-over between the
event loop and a thread, and with one thread those hand-overs queue.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.urls import NoReverseMatch, get_script_prefix, reverse

__all__ = [
    "EndpointThreadMiddleware",
    "LongPollMiddleware",
    "endpoint_paths",
    "is_shared_context",
    "request_path",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Thread-sensitive contexts of wrapped requests, each mapped to its thread for
# the life of the process: never entered, never exited (Django's own context
# inside one is then a no-op), so the thread is never shut down.
_SHARED: set[ThreadSensitiveContext] = set()


def is_shared_context(context: object) -> bool:
    """Tell whether context is one of the middleware's long-lived thread contexts."""
    return context in _SHARED


def _shared_contexts(threads: int) -> list[ThreadSensitiveContext]:
    contexts = []
    for number in range(threads):
        context = ThreadSensitiveContext()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"berrymq-rpc-{number}")
        SyncToAsync.context_to_thread_executor[context] = executor
        _SHARED.add(context)
        contexts.append(context)
    return contexts


def endpoint_paths() -> frozenset[str]:
    """Return the paths the endpoint answers at, below the site's script prefix.

    ``reverse("berrymq:rpc")``, with and without its trailing "/"; none when
    the URLconf does not include ``berrymq_django.urls`` (nothing to serve).
    """
    try:
        path = reverse("berrymq:rpc")
    except NoReverseMatch:
        return frozenset()
    prefix = get_script_prefix()
    if path.startswith(prefix):
        path = "/" + path[len(prefix) :]
    return frozenset([path, path.rstrip("/") or "/"])


def request_path(scope: Scope) -> str:
    """Return an HTTP scope's path below its root_path, as Django's ``path_info``."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class EndpointThreadMiddleware:
    """Wrap an ASGI application: the berryMQ endpoint's sync code runs on shared threads.

    paths are the exact request paths served so (default: the endpoint's,
    ``endpoint_paths()``, worked out on the first request); threads is
    how many threads they share (1 or more; each request keeps to one).
    """

    def __init__(self, app: ASGIApp, *, paths: list[str] | None = None, threads: int = 8) -> None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(
                f"EndpointThreadMiddleware threads must be an int >= 1, not {threads!r}."
            )
        self.app = app
        self.paths = None if paths is None else frozenset(paths)
        self._contexts = itertools.cycle(_shared_contexts(threads))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.paths is None:
            self.paths = endpoint_paths()
        if scope["type"] != "http" or request_path(scope) not in self.paths:
            await self.app(scope, receive, send)
            return
        token = SyncToAsync.thread_sensitive_context.set(next(self._contexts))
        try:
            await self.app(scope, receive, send)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)


class LongPollMiddleware:
    """Wrap an ASGI application: the endpoint's waiting gets are answered before Django.

    A POST to one of paths (default: ``endpoint_paths()``, worked out on the
    first request) that is one ``get`` call with a valid API key, on the
    default authentication and permission classes, is answered on the event
    loop without Django's request cycle: no Django middleware, no
    request_started / request_finished, the same answer bytes. Every other
    request, on any path, goes to app as it came (see ``long_polls.py``).
    """

    def __init__(self, app: ASGIApp, *, paths: list[str] | None = None) -> None:
        self.app = app
        self.paths = None if paths is None else frozenset(paths)
        self._serve: Callable[[ASGIApp, Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._serve is None:
            # Imported at the first request: the views need Django's apps ready, and
            # asgi.py is imported before get_asgi_application() sets them up.
            from .long_polls import serve

            self._serve = serve
            if self.paths is None:
                self.paths = endpoint_paths()
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or request_path(scope) not in (self.paths or ())
        ):
            await self.app(scope, receive, send)
            return
        await self._serve(self.app, scope, receive, send)
