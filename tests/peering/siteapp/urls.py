"""A test site: the berryMQ endpoint, plus views to twitter and to read what arrived."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from berrymq_django import twitter

from . import receivers


@csrf_exempt
def send(request: HttpRequest) -> JsonResponse:
    """POST {"id": ..., "count": n}: twitter n messages with args (i,)."""
    data = json.loads(request.body)
    for i in range(int(data.get("count", 1))):
        twitter(data["id"], i)
    return JsonResponse({"sent": int(data.get("count", 1))})


def received(request: HttpRequest) -> JsonResponse:
    """GET ?id=pattern-free: what the *:* follower got (or only the count with ?count=1)."""
    with receivers.lock:
        items = list(receivers.received)
    if request.GET.get("count"):
        return JsonResponse({"count": len(items)})
    return JsonResponse({"count": len(items), "received": items})


urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("send/", send),
    path("received/", received),
]
