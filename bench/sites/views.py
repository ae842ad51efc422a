"""The reference views and django-modern-rpc's entry point, side by side with ours.

* ``plain_json``     a function view returning ``JsonResponse({"ok": True})``
* ``PlainDRFView``   a DRF APIView with DRF's default settings returning the same
* ``modern_rpc``     django-modern-rpc 2.1 as its docs set it up (default JSON
  backend), serving ``send_message`` that does what berryMQ's does: one twitter()
* ``stats``          GET: how many messages the follower received (for the check)
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from modernrpc import RpcServer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.sites.receivers import Received
from berrymq_django import twitter


def plain_json(request: HttpRequest) -> JsonResponse:
    """Answer any request with ``{"ok": true}``: the floor of a Django view."""
    return JsonResponse({"ok": True})


class PlainDRFView(APIView):
    """Answer a POST with ``{"ok": true}`` through DRF's default machinery."""

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


def stats(request: HttpRequest) -> JsonResponse:
    """Report the follower's count of received messages."""
    return JsonResponse({"received": Received.count})


modern_rpc = RpcServer()


@modern_rpc.register_procedure
def send_message(
    token: str, identifier: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None
) -> str:
    """Twitter one message here, as berryMQ's send_message does; the token is not checked."""
    twitter(identifier, *(args or ()), **(kwargs or {}))
    return "ok"
