"""``path("berrymq/", include("berrymq_django.urls"))`` serves the endpoint at berrymq/rpc/
and the staff dashboard at berrymq/dashboard/."""

from django.urls import include, path

from .views import RPCView

app_name = "berrymq"

urlpatterns = [
    path("rpc/", RPCView.as_view(), name="rpc"),
    path("dashboard/", include("berrymq_django.dashboard.urls")),
]
