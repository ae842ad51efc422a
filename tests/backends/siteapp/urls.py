"""A test site: the berryMQ endpoint, and views to twitter and to read what this worker got."""

from __future__ import annotations

import os
import time

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from berrymq_django import default_dispatcher, twitter

from . import receivers


def ready(request: HttpRequest) -> JsonResponse:
    """GET: this worker's pid and whether its backend is connected and reading."""
    backend = default_dispatcher.backend
    return JsonResponse({"pid": os.getpid(), "ready": backend.ready(5.0), "token": backend.token})


def send(request: HttpRequest) -> JsonResponse:
    """GET ?marker=...: twitter "site:ping" with the marker from this worker."""
    message = twitter("site:ping", request.GET["marker"])
    return JsonResponse({"pid": os.getpid(), "uid": message.uid})


def received(request: HttpRequest) -> JsonResponse:
    """GET ?hold=seconds: what this worker's follower got (holding the worker a moment,
    so that concurrent requests spread over every worker)."""
    time.sleep(float(request.GET.get("hold", 0)))
    with receivers.lock:
        items = list(receivers.received)
    return JsonResponse({"pid": os.getpid(), "received": items})


urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("ready/", ready),
    path("send/", send),
    path("received/", received),
]
