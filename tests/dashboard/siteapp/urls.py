"""The admin, the berryMQ endpoint and dashboard, and the static files (DEBUG is off).

/accounts/login/ logs in any user (the admin's login only staff), so that a
test can be a logged-in user who is not staff.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", LoginView.as_view(template_name="admin/login.html")),
    path("berrymq/", include("berrymq_django.urls")),
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]
