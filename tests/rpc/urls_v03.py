"""The test URLs plus the endpoint at /JSON, where berryMQ 0.3's client posts by default."""

from __future__ import annotations

from django.urls import path

from berrymq_django.views import RPCView
from tests.urls import urlpatterns as site

urlpatterns = [path("JSON", RPCView.as_view()), *site]
