"""The JSON-RPC endpoint: a DRF view in front of berrymq_django.rpc.

DRF brings what a public endpoint needs (pluggable authentication,
permissions and throttling, all from BERRYMQ settings, and refusals as
responses the DRF way); the body is read and parsed by the rpc package with
orjson, and content negotiation, which a JSON-only protocol does not need,
is skipped.

The body is JSON whatever the Content-Type says (clients send
application/json, application/json-rpc, text/plain, text/xml or a form
type): DRF's only parser, ``LeaveBodyParser``, takes every media type and
reads nothing, so ``request.data`` and ``request.POST`` are empty and
cheap. That matters to CSRF checks, which look at ``request.POST`` for a
form token before they read the ``X-CSRFToken`` header.

With ATOMIC_REQUESTS each call runs in a savepoint (see rpc/server.py), and
a request refused or failed as a whole is marked for rollback. With the
outbox on, a request's messages that go on are written in one INSERT.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import ExitStack, nullcontext
from functools import partial
from typing import Any

from django.core.signals import setting_changed
from django.db import DatabaseError, connections, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView, set_rollback

from .authentication import APIKeyAuthentication, APIKeyClient
from .conf import berrymq_settings
from .core.api import default_dispatcher
from .core.exceptions import BackendUnavailable
from .outbox.setup import outbox_status
from .outbox.writer import batched as outbox_batched
from .outbox.writer import current_writer
from .peering import connection_state, peers
from .permissions import IsBerryMQClient
from .rpc import protocol
from .rpc.context import CallContext, Limits
from .rpc.server import Isolation, handle_body

__all__ = ["RPCView", "read_body", "respond", "service_unavailable", "unavailable"]

logger = logging.getLogger("berrymq.rpc")

JSON = "application/json"
_RENDERER = JSONRenderer()


def rpc_error_response(http_status: int, code: int, message: str, **headers: str) -> Response:
    """Return a response whose body is a JSON-RPC 2.0 error with id null."""
    body = protocol.error_response(protocol.RPCError(code, message))
    return Response(body, status=http_status, headers=headers)


class _Pipeline:
    """What the view needs from BERRYMQ, worked out once per settings change."""

    def __init__(self) -> None:
        s = berrymq_settings
        self.authenticators = [cls() for cls in s.AUTHENTICATION_CLASSES]
        self.permissions = [cls() for cls in s.PERMISSION_CLASSES]
        self.throttle_classes = list(s.THROTTLE_CLASSES)
        self.limits = Limits(
            max_poll_seconds=s.MAX_POLL_SECONDS,
            dedup_seconds=s.DEDUP_SECONDS,
            queue_maxsize=s.QUEUE_MAXSIZE,
            max_identifier_length=s.MAX_IDENTIFIER_LENGTH,
            max_messages_per_call=s.MAX_MESSAGES_PER_CALL,
            max_interconnects=s.MAX_INTERCONNECTS,
        )
        self.max_body = s.MAX_BODY_BYTES
        self.max_batch = s.MAX_BATCH
        self.max_depth = s.MAX_DEPTH
        # With the default classes, a request with a valid API key is allowed and
        # unthrottled whatever DRF would do on the way: skip straight to the call.
        self.key_fast_path = (
            [type(a) for a in self.authenticators[:1]] == [APIKeyAuthentication]
            and [type(p) for p in self.permissions] == [IsBerryMQClient]
            and not self.throttle_classes
        )


_pipeline: _Pipeline | None = None


def site_report() -> dict[str, Any]:
    """Return the site's own figures for the status method: backend, its health, the limits.

    ``limits`` maps each limit setting a client sizes its calls by to its
    value here (bytes, counts, seconds), so a client or peer never has to
    guess them. With the outbox on, ``outbox`` gives its figures.
    """
    backend = default_dispatcher.backend
    conf = pipeline()
    limits = conf.limits
    report: dict[str, Any] = {
        "backend": f"{type(backend).__module__}.{type(backend).__qualname__}",
        "backend_status": backend.status(),
        "limits": {
            "MAX_BODY_BYTES": conf.max_body,
            "MAX_BATCH": conf.max_batch,
            "MAX_DEPTH": conf.max_depth,
            "MAX_IDENTIFIER_LENGTH": limits.max_identifier_length,
            "MAX_MESSAGES_PER_CALL": limits.max_messages_per_call,
            "MAX_POLL_SECONDS": limits.max_poll_seconds,
            "MAX_INTERCONNECTS": limits.max_interconnects,
            "QUEUE_MAXSIZE": limits.queue_maxsize,
            "DEDUP_SECONDS": limits.dedup_seconds,
        },
    }
    waiting = getattr(connection_state(), "waiting", None)  # in-process state only
    if waiting is not None:
        report["waiting_gets"] = waiting()
    if current_writer() is not None:
        report["outbox"] = outbox_status()
    return report


def context_for(principal: str, limits: Limits, *, anonymous: bool = False) -> CallContext:
    """Return what one call works with: the caller, and the site's dispatcher, state and links."""
    return CallContext(
        principal,
        default_dispatcher,
        connection_state(),
        limits,
        peers(),
        anonymous=anonymous,
        site_report=site_report,
    )


def pipeline() -> _Pipeline:
    global _pipeline
    if _pipeline is None:
        _pipeline = _Pipeline()
    return _pipeline


def _reset_pipeline(*, setting: str, **kwargs: Any) -> None:
    global _pipeline
    if setting == "BERRYMQ":
        _pipeline = None


setting_changed.connect(_reset_pipeline, dispatch_uid="berrymq_django.views.reset_pipeline")


def _savepoints() -> Isolation | None:
    """Return what opens a savepoint in every database whose transaction the request is in.

    None outside transactions. With ATOMIC_REQUESTS, each call then commits
    or rolls back with its own answer, a batch's failed calls alone undone.
    """
    aliases = [db.alias for db in connections.all(initialized_only=True) if db.in_atomic_block]
    if not aliases:
        return None
    if len(aliases) == 1:
        return partial(transaction.atomic, using=aliases[0])

    def savepoints() -> ExitStack:
        with ExitStack() as stack:  # if one cannot open, those opened are closed
            for alias in aliases:
                stack.enter_context(transaction.atomic(using=alias))
            return stack.pop_all()

    return savepoints


def read_body(request: HttpRequest, conf: _Pipeline) -> bytes | HttpResponse:
    """Return the request's body, or the error answer when it passes MAX_BODY_BYTES."""
    limit = conf.max_body
    # read(), not .body: our own limit applies, not DATA_UPLOAD_MAX_MEMORY_SIZE. The
    # declared length is not trusted to refuse unread: gunicorn then loses the next
    # request on that keep-alive connection (the conformance kit's limit rules show it).
    body = request.read(limit + 1)
    if len(body) > limit:
        _drain(request)
        error = protocol.limit_exceeded(
            "MAX_BODY_BYTES", limit, limit + 1, "The body size in bytes", capped=True
        )
    elif not body and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Django reads CONTENT_LENGTH bytes under WSGI: a chunked body reaches it empty.
        error = protocol.RPCError(
            protocol.PARSE_ERROR,
            "Parse error: the body came chunked (Transfer-Encoding: chunked) and reached the "
            "site empty; send it with a Content-Length.",
        )
    else:
        return body
    return HttpResponse(protocol.encode(protocol.error_response(error)), content_type=JSON)


#: The most of a refused body read to the end, so that the server can take the
#: connection's next request (gunicorn loses it when the rest is left unread).
DRAIN_BYTES = 64 * 1024 * 1024


def _drain(request: HttpRequest) -> None:
    left = DRAIN_BYTES
    while left > 0 and (chunk := request.read(min(left, 65536))):
        left -= len(chunk)


def unavailable(exc: BackendUnavailable | DatabaseError) -> HttpResponse:
    """Answer a request the backend (or the outbox's database) cannot serve now: HTTP 503.

    Transient, unlike a method's crash (-32603): a client retries a 503.
    """
    logger.warning("berryMQ endpoint: the backend cannot answer now: %s", exc)
    set_rollback()
    return service_unavailable(str(exc))


def service_unavailable(reason: str) -> HttpResponse:
    """Return HTTP 503 with Retry-After: 1 and error -32005 naming reason: a client retries it."""
    error = protocol.RPCError(
        protocol.UNAVAILABLE, f"Service unavailable: {reason}; try again later."
    )
    response = HttpResponse(
        protocol.encode(protocol.error_response(error)),
        content_type=JSON,
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = "1"
    return response


def respond(answer: bytes | None) -> HttpResponse:
    """Return the HTTP response carrying a JSON-RPC answer (204 when there is none)."""
    if answer is None:
        empty = HttpResponse(status=status.HTTP_204_NO_CONTENT)
        del empty["Content-Type"]  # no content, so no type (Django's default is text/html)
        return empty
    return HttpResponse(answer, content_type=JSON)


class LeaveBodyParser(BaseParser):
    """Accept any media type and leave the body unread, for the rpc package to parse."""

    media_type = "*/*"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {}


class RPCView(APIView):
    """Serve berryMQ's JSON-RPC protocol (2.0 and 1.0) on POST."""

    parser_classes = (LeaveBodyParser,)
    renderer_classes = (JSONRenderer,)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        conf = pipeline()
        if conf.key_fast_path and request.method == "POST":
            principal = APIKeyAuthentication.principal_from_header(
                request.META.get("HTTP_AUTHORIZATION")
            )
            if principal is not None:
                return self.answer(request, context_for(principal, conf.limits), conf)
        return super().dispatch(request, *args, **kwargs)

    def get_authenticators(self) -> list[BaseAuthentication]:
        return pipeline().authenticators

    def get_permissions(self) -> list[BasePermission]:
        return pipeline().permissions

    def get_throttles(self) -> list[BaseThrottle]:
        # Throttles keep per-request state: a new set each time.
        return [cls() for cls in pipeline().throttle_classes]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return (_RENDERER, JSON)  # one protocol, one media type

    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        conf = pipeline()
        return self.answer(request._request, self.call_context(request, conf), conf)

    def answer(self, request: HttpRequest, context: CallContext, conf: _Pipeline) -> HttpResponse:
        """Read the body (within MAX_BODY_BYTES) and answer it."""
        body = read_body(request, conf)
        if isinstance(body, HttpResponse):
            return body
        try:
            # With the outbox on, the messages a call sends on are written in one INSERT.
            with outbox_batched():
                answer = handle_body(
                    body,
                    context,
                    max_batch=conf.max_batch,
                    max_depth=conf.max_depth,
                    isolate=_savepoints() or nullcontext,
                )
        except (BackendUnavailable, DatabaseError) as exc:
            return unavailable(exc)
        return respond(answer)

    def call_context(self, request: Request, conf: _Pipeline) -> CallContext:
        """Name the caller DRF authenticated."""
        user = request.user
        if isinstance(user, APIKeyClient):
            return context_for(user.principal, conf.limits)
        if user is not None and user.is_authenticated:
            return context_for(f"user:{user.get_username()}", conf.limits)
        return context_for("anonymous", conf.limits, anonymous=True)

    def handle_exception(self, exc: Exception) -> Response:
        """Answer every failure with a JSON-RPC error body and the fitting HTTP status.

        As DRF's exception handler does, a failure answered here marks the
        request's transaction (ATOMIC_REQUESTS) for rollback: an authenticator,
        permission or throttle that wrote before refusing leaves nothing behind.
        """
        set_rollback()
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return rpc_error_response(
                401,
                protocol.UNAUTHENTICATED,
                str(exc.detail),
                **{"WWW-Authenticate": self.get_authenticate_header(self.request) or "Bearer"},
            )
        if isinstance(exc, exceptions.PermissionDenied):
            return rpc_error_response(403, protocol.FORBIDDEN, str(exc.detail))
        if isinstance(exc, exceptions.Throttled):
            wait = getattr(exc, "wait", None)
            headers = {"Retry-After": str(int(wait))} if wait is not None else {}
            return rpc_error_response(429, protocol.THROTTLED, str(exc.detail), **headers)
        if isinstance(exc, exceptions.MethodNotAllowed):
            return rpc_error_response(
                405,
                protocol.INVALID_REQUEST,
                f"Invalid Request: the berryMQ endpoint takes POST, not {self.request.method}.",
                Allow="POST, OPTIONS",
            )
        if isinstance(exc, exceptions.APIException):
            return rpc_error_response(exc.status_code, protocol.INVALID_REQUEST, str(exc.detail))
        logger.exception("berryMQ endpoint failed")
        return rpc_error_response(
            500, protocol.INTERNAL_ERROR, "Internal error; see the server log."
        )
