"""A test site: the berryMQ endpoint, plus views to twitter and to read what arrived."""

from __future__ import annotations

import json
import os
import threading

from django.core.signals import request_started
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from berrymq_django import twitter
from berrymq_django.outbox import atomic
from berrymq_django.peering import peers
from berrymq_django.transaction import twitter_on_commit

from . import receivers


class _RolledBack(Exception):
    pass


@csrf_exempt
def send(request: HttpRequest) -> JsonResponse:
    """POST {"id", "count": n, "start": s, "args": [...]}: twitter n messages (i, *args).

    With "atomic": "commit" or "rollback", twitter_on_commit them in one
    berrymq_django.outbox.atomic() block that commits or rolls back.
    """
    data = json.loads(request.body)
    start, count, extra = int(data.get("start", 0)), int(data.get("count", 1)), data.get("args", [])
    mode = data.get("atomic")
    if mode is None:
        for i in range(start, start + count):
            twitter(data["id"], i, *extra)
        return JsonResponse({"sent": count, "pid": os.getpid()})
    try:
        with atomic():
            for i in range(start, start + count):
                twitter_on_commit(data["id"], i, *extra)
            if mode == "rollback":
                raise _RolledBack
    except _RolledBack:
        pass
    return JsonResponse({"sent": count, "pid": os.getpid()})


def received(request: HttpRequest) -> JsonResponse:
    """GET: what the *:* follower got (or only the count with ?count=1)."""
    with receivers.lock:
        if request.GET.get("count"):
            return JsonResponse({"count": len(receivers.received)})
        items = list(receivers.received)
    return JsonResponse({"count": len(items), "received": items})


_started = {"requests": 0}
_started_lock = threading.Lock()


def _count_request(**kwargs: object) -> None:
    with _started_lock:
        _started["requests"] += 1


request_started.connect(_count_request)


def requests(request: HttpRequest) -> JsonResponse:
    """GET: how many requests Django's request cycle has started in this process, this one too."""
    with _started_lock:
        return JsonResponse({"started": _started["requests"]})


def links(request: HttpRequest) -> JsonResponse:
    """GET: the pid of the worker answering, and the state of each of its peer links."""
    states = {name: figures["state"] for name, figures in peers().status().items()}
    return JsonResponse({"pid": os.getpid(), "links": states})


urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("send/", send),
    path("received/", received),
    path("links/", links),
    path("requests/", requests),
]
