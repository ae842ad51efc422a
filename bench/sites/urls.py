"""URLs of the bench site: ours at berrymq/rpc/, the contenders beside it."""

from __future__ import annotations

from importlib.util import find_spec

from django.urls import include, path

from bench.sites import views

urlpatterns = [
    path("plain/", views.plain_json, name="plain"),
    path("drf/", views.PlainDRFView.as_view(), name="drf"),
    path("modern-rpc/", views.modern_rpc.view, name="modern-rpc"),
    path("stats/", views.stats, name="stats"),
]

# The endpoint may not exist yet on a branch that predates it; the harness checks too.
if find_spec("berrymq_django.urls") is not None:
    urlpatterns.append(path("berrymq/", include("berrymq_django.urls")))
