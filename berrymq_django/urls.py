"""``path("berrymq/", include("berrymq_django.urls"))`` serves the endpoint at berrymq/rpc/.

The view is sync under WSGI and async under ASGI (see async_views.py).
"""

from django.urls import path

from .async_views import rpc_view

app_name = "berrymq"

urlpatterns = [
    path("rpc/", rpc_view, name="rpc"),
]
