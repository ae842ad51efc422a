"""The metrics view: who may scrape berrymq/metrics, and the registry it serves."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.http import HttpResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from ..authentication import APIKeyClient
from ..conf import berrymq_settings
from ..rpc.peers import CALLBACK_PRINCIPAL_PREFIX
from ..views import JSON, pipeline
from .collector import BerryMQCollector
from .sources import INSTALL_HINT, prometheus_available

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ["CanReadMetrics", "MetricsView", "registry"]

_RENDERER = JSONRenderer()

_registry: CollectorRegistry | None = None
_registry_lock = threading.Lock()


def registry() -> CollectorRegistry:
    """Return the registry the view serves: berryMQ's collector alone, made once."""
    global _registry
    with _registry_lock:
        if _registry is None:
            from prometheus_client.registry import CollectorRegistry

            found = CollectorRegistry(auto_describe=False)
            found.register(BerryMQCollector())
            _registry = found
        return _registry


class CanReadMetrics(BasePermission):
    """Allow API key holders and logged-in staff; everyone if BERRYMQ["METRICS_PUBLIC"].

    A peer calling back with an interconnect token is not a key holder here.
    """

    message = "berryMQ metrics need an API key (Authorization: Bearer) or a staff session."

    def has_permission(self, request: Request, view: Any) -> bool:
        if berrymq_settings.METRICS_PUBLIC:
            return True
        user = request.user
        if isinstance(user, APIKeyClient):
            return not user.principal.startswith(CALLBACK_PRINCIPAL_PREFIX)
        return bool(user and user.is_authenticated and user.is_staff)


class MetricsView(APIView):
    """Serve berryMQ's metrics on GET in the Prometheus text format (see the module docstring).

    401 without credentials, 403 for a user who is not staff, 501 without
    prometheus-client.
    """

    permission_classes = (CanReadMetrics,)

    def get_authenticators(self) -> list[BaseAuthentication]:
        return pipeline().authenticators  # the endpoint's: API keys and sessions

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return (_RENDERER, JSON)  # refusals are JSON; the metrics are an HttpResponse

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        if not prometheus_available():
            return HttpResponse(
                f"berryMQ metrics are not available. {INSTALL_HINT}\n",
                status=501,
                content_type="text/plain; charset=utf-8",
            )
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
        return HttpResponse(encoder(registry()), content_type=content_type)
