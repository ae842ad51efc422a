"""The client tests' site: the endpoint, views to twitter and to read what the followers
got, a staff login and a page that runs berrymq.js in a browser."""

from __future__ import annotations

import json

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.views import serve
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

from berrymq_django import twitter

from . import receivers


@csrf_exempt
def send(request: HttpRequest) -> JsonResponse:
    """POST {"id", "count": n, "args": [...], "kwargs": {...}}: twitter id(i, *args, **kwargs)."""
    data = json.loads(request.body)
    for i in range(int(data.get("count", 1))):
        twitter(data["id"], i, *data.get("args", []), **data.get("kwargs", {}))
    return JsonResponse({"sent": data.get("count", 1)})


def received(request: HttpRequest) -> JsonResponse:
    """GET ?id=...: what the "*:*" follower got (with that identifier only, when given)."""
    wanted = request.GET.get("id")
    with receivers.lock:
        items = [item for item in receivers.received if wanted in (None, item["id"])]
    return JsonResponse({"count": len(items), "received": items})


@login_required
@ensure_csrf_cookie
def page(request: HttpRequest) -> HttpResponse:
    """A page that follows "browser:*" with berrymq.js on the staff session."""
    return render(request, "clients/page.html")


urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("send/", send),
    path("received/", received),
    path("login/", auth_views.LoginView.as_view(template_name="clients/login.html")),
    path("page/", page),
    # The app's static files, as a site serves them (here without collectstatic).
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]
