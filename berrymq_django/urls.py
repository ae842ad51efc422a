"""``path("berrymq/", include("berrymq_django.urls"))`` serves the endpoint at berrymq/rpc/,
the staff dashboard at berrymq/dashboard/ and the Prometheus metrics at berrymq/metrics.

The endpoint's view is sync under WSGI and async under ASGI (see async_views.py).
"""

from django.urls import include, path

from .async_views import rpc_view
from .metrics.views import MetricsView

app_name = "berrymq"

urlpatterns = [
    path("rpc/", rpc_view, name="rpc"),
    # APPEND_SLASH cannot redirect a POST: a client given the URL without "/" is answered too.
    path("rpc", rpc_view),
    path("dashboard/", include("berrymq_django.dashboard.urls")),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
