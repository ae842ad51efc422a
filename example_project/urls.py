"""URLs of the example project: the demo at / and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("berrymq/", include("berrymq_django.urls")),
    path("", include("example_project.demo.urls")),
]
