"""URLs of the example project: the click demo at /, the shop at /shop/, the admin, statics."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("berrymq/", include("berrymq_django.urls")),
    path("shop/", include("example_project.shop.urls")),
    path("", include("example_project.demo.urls")),
]
# The admin's and the dashboard's CSS and JavaScript under gunicorn too (runserver serves
# them by itself); only while DEBUG is on, as fits a development-only project.
urlpatterns += staticfiles_urlpatterns()
