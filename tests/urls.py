"""URLs for the test suite: the example demo app, without the admin."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("", include("example_project.demo.urls")),
]
