"""``path("berrymq/", include("berrymq_django.urls"))`` serves the endpoint at berrymq/rpc/."""

from django.urls import path

from .metrics.views import MetricsView
from .views import RPCView

app_name = "berrymq"

urlpatterns = [
    path("rpc/", RPCView.as_view(), name="rpc"),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
