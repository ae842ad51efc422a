"""``path("berrymq/", include("berrymq_django.urls"))`` serves the endpoint at berrymq/rpc/,
the staff dashboard at berrymq/dashboard/ and the Prometheus metrics at berrymq/metrics."""

from django.urls import include, path

from .metrics.views import MetricsView
from .views import RPCView

app_name = "berrymq"

urlpatterns = [
    path("rpc/", RPCView.as_view(), name="rpc"),
    # APPEND_SLASH cannot redirect a POST: a client given the URL without "/" is answered too.
    path("rpc", RPCView.as_view()),
    path("dashboard/", include("berrymq_django.dashboard.urls")),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
