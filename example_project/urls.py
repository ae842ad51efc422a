"""URLs of the example project: the click demo at /, the shop at /shop/, and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("berrymq/", include("berrymq_django.urls")),
    path("shop/", include("example_project.shop.urls")),
    path("", include("example_project.demo.urls")),
]
