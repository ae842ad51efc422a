"""Views of the peering bench site: twitter N messages here, and report what arrived."""

from __future__ import annotations

import json
import statistics
import time

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from berrymq_django import twitter
from berrymq_django.core.api import default_dispatcher
from berrymq_django.outbox import atomic
from berrymq_django.outbox.writer import OutboxWriter, install
from berrymq_django.transaction import twitter_on_commit

from . import IDENTIFIER, receivers


@csrf_exempt
def send(request: HttpRequest) -> JsonResponse:
    """POST {"run", "n", "rate", "per"}: twitter n messages (run, i, time.time()) here.

    ``per`` sends them with twitter_on_commit in transactions of that many
    (``berrymq_django.outbox.atomic()``), each writing a row of its own to
    the table bench_business with ``business``.

    ``rate`` paces them at that many per second (0: as fast as twitter() goes),
    sending each one when it falls due, so 50 means one every 20 ms.
    """
    data = json.loads(request.body)
    run, n, rate = str(data["run"]), int(data["n"]), float(data.get("rate", 0))
    per = int(data.get("per", 0))
    started = time.perf_counter()
    if per:
        # Transactions of per messages, each sent at commit (the outbox case).
        business = bool(data.get("business"))
        for first in range(0, n, per):
            with atomic():
                if business:  # the row the messages are about, as a real transaction has
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "INSERT INTO bench_business (run, n) VALUES (%s, %s)", [run, first]
                        )
                for i in range(first, min(n, first + per)):
                    twitter_on_commit(IDENTIFIER, run, i, time.time())
    elif rate:
        for i in range(n):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            twitter(IDENTIFIER, run, i, time.time())
    else:
        for i in range(n):
            twitter(IDENTIFIER, run, i, time.time())
    return JsonResponse({"sent": n, "seconds": time.perf_counter() - started})


@csrf_exempt
def cost(request: HttpRequest) -> JsonResponse:
    """POST {"n", "per", "rounds"}: time twitter_on_commit in transactions, outbox on and off.

    For a site whose own outbox is off (no relay runs): each round times n
    messages in transactions of per (each with a business row) once with an
    outbox writer installed and once without, interleaved; the rows written
    are deleted between rounds. Returns µs per message of each round.
    """
    data = json.loads(request.body)
    n, per, rounds = int(data["n"]), int(data["per"]), int(data["rounds"])
    writer = OutboxWriter(default_dispatcher, "default")
    timings: dict[str, list[float]] = {"on": [], "off": []}

    def loop() -> float:
        started = time.perf_counter()
        for first in range(0, n, per):
            with atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO bench_business (run, n) VALUES (%s, %s)", ["c", first])
                for i in range(first, min(n, first + per)):
                    twitter_on_commit(IDENTIFIER, "cost", i, time.time())
        return (time.perf_counter() - started) * 1e6 / n

    try:
        for round_ in range(rounds + 1):  # round 0 warms up
            for mode in ("on", "off") if round_ % 2 else ("off", "on"):
                install(writer if mode == "on" else None)
                us = loop()
                if round_:
                    timings[mode].append(us)
            install(None)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM berrymq_outbox")
    finally:
        install(None)
    return JsonResponse(timings)


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
    path("cost/", cost),
    path("ping/", ping),
]
