"""URLs for the test suite: the example project's apps, without the admin."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("shop/", include("example_project.shop.urls")),
    path("", include("example_project.demo.urls")),
]
