"""The endpoint under ASGI: long polls that wait on the event loop, not in a thread.

Django serves a sync view under ASGI in a thread of the request's own, so
each waiting ``get`` would hold a thread, and one that its client has left
cannot be stopped. ``RPCEndpoint`` is the view callable ``urls.py`` routes
to, and it is both kinds of view:

- under WSGI (no event loop running in the thread) it is ``RPCView``'s sync
  view, the same code and cost as before;
- under ASGI Django sees a coroutine function and awaits it: ``get``
  awaits its queue (``rpc.methods.aget``; the store wakes the loop with
  ``call_soon_threadsafe`` from whichever thread puts), and every other
  call runs as under WSGI, in Django's thread for sync code.

Authentication, permissions and throttling are DRF's, as under WSGI: a
request with a valid API key on the default classes takes the same fast
path on the loop (it reads settings only); any other request runs the DRF
pipeline (``APIView.dispatch``, which may read the database) in Django's
sync thread, and only its answer is worked out on the loop. Answers, errors
and status codes are the same bytes on both paths.

Django serves ATOMIC_REQUESTS views synchronously only: with it set on any
database the endpoint stays sync under ASGI too, each call in its savepoint.
A client that disconnects while its poll waits cancels the view (Django 5.0
and later): its waiter is withdrawn at once and nothing is taken from the
queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from asgiref.sync import SyncToAsync, markcoroutinefunction, sync_to_async
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.request import Request

from .asgi import is_shared_context
from .authentication import APIKeyAuthentication
from .core.exceptions import BackendUnavailable
from .outbox.writer import batched as outbox_batched
from .rpc.context import CallContext
from .rpc.server import ahandle_body
from .views import RPCView, _Pipeline, context_for, pipeline, read_body, respond, unavailable

__all__ = ["RPCEndpoint", "rpc_view", "serving_async"]

T = TypeVar("T")


def _marks() -> dict[str, object]:
    """Return the attribute by which this Python tells a coroutine function, and its value."""

    def probe() -> None: ...

    markcoroutinefunction(probe)
    names = ("_is_coroutine_marker", "_is_coroutine")  # Python 3.12+, Python 3.11
    return {name: getattr(probe, name) for name in names if hasattr(probe, name)}


_MARKS = _marks()


def serving_async() -> bool:
    """Tell whether the endpoint answers on an event loop: under ASGI, without ATOMIC_REQUESTS."""
    # asyncio's own no-raise check: under WSGI this runs twice per request.
    if asyncio._get_running_loop() is None:
        return False
    return not any(db.get("ATOMIC_REQUESTS") for db in connections.settings.values())


def _in_sync_thread(fn: Callable[[], T]) -> Awaitable[T]:
    # Where Django runs a sync view under ASGI: followers may use the ORM there.
    return sync_to_async(fn, thread_sensitive=True)()


def give_back_sync_thread() -> None:
    """Let the thread Django keeps for this request's sync code go while the request waits.

    Django's ASGI handler gives each request a thread for its sync code (its
    request_started receivers start it) and keeps it until the response is
    sent: idle, but one per waiting poll. Given back, the thread exits, and
    sync code later in the request (request_finished) starts a new one. Not
    when a database connection is open: it belongs to that thread; nor under
    ``asgi.EndpointThreadMiddleware``, whose threads serve every request.
    Where the asgiref in use keeps its per-request threads elsewhere, the
    thread stays.
    """
    if any(True for _ in connections.all(initialized_only=True)):
        return
    current = getattr(SyncToAsync, "thread_sensitive_context", None)
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    context = None if current is None else current.get(None)
    # The shared thread stays (asgi.py); a context given its own executor owns it.
    if context is None or is_shared_context(context) or executors is None:
        return
    if getattr(context, "_executor", None) is not None:
        return
    executor = executors.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)


def _calls_in_sync_thread(fn: Callable[[], T]) -> Awaitable[T]:
    # As RPCView.answer runs them: with the outbox on, their messages in one INSERT.
    def batched() -> T:
        with outbox_batched():
            return fn()

    return _in_sync_thread(batched)


class _Deferred(HttpResponse):
    """What ``post`` returns inside DRF's pipeline under ASGI: the caller, its answer to come."""

    def __init__(self, context: CallContext) -> None:
        super().__init__()
        self.context = context


class _DeferringView(RPCView):
    """RPCView whose ``post`` leaves the body to be answered on the event loop."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return _Deferred(self.call_context(request, pipeline()))

    # OPTIONS describes the view by its class: the endpoint's, as under WSGI.
    def get_view_name(self) -> str:
        return RPCView().get_view_name()

    def get_view_description(self, html: bool = False) -> str:
        return RPCView().get_view_description(html)


async def aanswer(request: HttpRequest, context: CallContext, conf: _Pipeline) -> HttpResponse:
    """Read the body (within MAX_BODY_BYTES) and answer it on the loop: RPCView.answer's twin."""
    body = read_body(request, conf)
    if isinstance(body, HttpResponse):
        return body
    try:
        answer = await ahandle_body(
            body,
            context,
            max_batch=conf.max_batch,
            max_depth=conf.max_depth,
            run_sync=_calls_in_sync_thread,
        )
    except (BackendUnavailable, DatabaseError) as exc:
        return unavailable(exc)
    return respond(answer)


async def adispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    """Serve one request on the event loop, through the same DRF pipeline as RPCView."""
    conf = pipeline()
    if conf.key_fast_path and request.method == "POST":
        principal = APIKeyAuthentication.principal_from_header(
            request.META.get("HTTP_AUTHORIZATION")
        )
        if principal is not None:
            context = context_for(principal, conf.limits)
            context.before_wait = give_back_sync_thread
            return await aanswer(request, context, conf)
    view = _DeferringView()
    view.setup(request, *args, **kwargs)
    response = await _in_sync_thread(lambda: view.dispatch(request, *args, **kwargs))
    if not isinstance(response, _Deferred):
        return response  # refused, or not a POST: DRF's answer as it stands
    response.context.before_wait = give_back_sync_thread
    answer = await aanswer(request, response.context, conf)
    view.headers = view.default_response_headers
    # DRF's finalize_response takes any HttpResponseBase; its stubs say Response.
    return view.finalize_response(view.request, answer, *args, **kwargs)  # type: ignore[arg-type]


class RPCEndpoint:
    """The endpoint's view: RPCView's sync view under WSGI, a coroutine function under ASGI.

    Django asks whether a view is a coroutine function when it calls it;
    this one answers by whether an event loop runs the request
    (``serving_async``), and calling it gives the response or a coroutine
    accordingly.
    """

    csrf_exempt = True  # as DRF's views: SessionAuthentication enforces CSRF itself
    view_class = cls = RPCView
    initkwargs: dict[str, Any] = {}  # noqa: RUF012 (read only, as DRF's)

    def __init__(self) -> None:
        self._sync_view = RPCView.as_view()

    # How asyncio (Python 3.11) and inspect (3.12+) tell a coroutine function. Properties,
    # not __getattr__: inspect looks up several absent attributes, each a raise there.
    @property
    def _is_coroutine(self) -> object:
        return _MARKS.get("_is_coroutine") if serving_async() else None

    @property
    def _is_coroutine_marker(self) -> object:
        return _MARKS.get("_is_coroutine_marker") if serving_async() else None

    def __call__(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase | Coroutine[Any, Any, HttpResponseBase]:
        if serving_async():
            return adispatch(request, *args, **kwargs)
        response: HttpResponseBase = self._sync_view(request, *args, **kwargs)
        return response

    def __repr__(self) -> str:
        return "<RPCEndpoint: RPCView, sync under WSGI, async under ASGI>"


#: The view ``urls.py`` serves at rpc/ (typed as Django's URL patterns expect a view:
#: under ASGI, Django sees a coroutine function and awaits what it returns).
rpc_view = cast("Callable[..., HttpResponseBase]", RPCEndpoint())
