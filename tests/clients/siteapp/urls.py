"""The client test site: the berryMQ endpoint, plus views to twitter and to read what arrived."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from berrymq_django import twitter

from . import receivers


@csrf_exempt
def send(request: HttpRequest) -> JsonResponse:
    """POST {"id", "args"?, "kwargs"?}: twitter it here, in Python; answer its uid."""
    data = json.loads(request.body)
    message = twitter(data["id"], *data.get("args", []), **data.get("kwargs", {}))
    return JsonResponse({"uid": message.uid})


def received(request: HttpRequest) -> JsonResponse:
    """GET: what the "*:*" follower got, oldest first (only identifier ?id=, if given)."""
    wanted = request.GET.get("id")
    with receivers.lock:
        items = [item for item in receivers.received if wanted in (None, item["id"])]
    return JsonResponse({"count": len(items), "received": items})


urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("send/", send),
    path("received/", received),
]
