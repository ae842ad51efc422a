"""Views of the peering bench site: twitter N messages here, and report what arrived."""

from __future__ import annotations

import json
import statistics
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from berrymq_django import twitter

from . import IDENTIFIER, receivers


@csrf_exempt
def send(request: HttpRequest) -> JsonResponse:
    """POST {"run", "n", "rate"}: twitter n messages (run, i, time.time()) here.

    ``rate`` paces them at that many per second (0: as fast as twitter() goes),
    sending each one when it falls due, so 50 means one every 20 ms.
    """
    data = json.loads(request.body)
    run, n, rate = str(data["run"]), int(data["n"]), float(data.get("rate", 0))
    started = time.perf_counter()
    if rate:
        for i in range(n):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            twitter(IDENTIFIER, run, i, time.time())
    else:
        for i in range(n):
            twitter(IDENTIFIER, run, i, time.time())
    return JsonResponse({"sent": n, "seconds": time.perf_counter() - started})


def stats(request: HttpRequest) -> JsonResponse:
    """GET ?run=R: count, anomalies and timings of run R (latencies only with &latency=1)."""
    with receivers.lock:
        run = receivers.runs.get(request.GET.get("run", ""))
        if run is None:
            return JsonResponse({"count": 0})
        report = {
            "first_index": run.first_index,
            "expected": run.expected,
            "count": run.count,
            "anomalies": run.anomalies,
            "first_sent": run.first_sent,
            "last_received": run.last_received,
        }
        latencies = list(run.latencies) if request.GET.get("latency") else []
    if latencies:
        quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies
        report["latency_p50"] = statistics.median(latencies)
        report["latency_p99"] = quantiles[-1]
    return JsonResponse(report)


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("berrymq/", include("berrymq_django.urls")),
    path("send/", send),
    path("stats/", stats),
    path("ping/", ping),
]
