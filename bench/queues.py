"""Pull delivery: twitter() into a Queue and get_nowait() out, against queue.Queue.

Case ``queue``: one round trip (send one message with one small argument,
take it back out) must cost at most 1.5x of ``queue.Queue.put`` plus
``get_nowait`` carrying the same argument.
"""

from __future__ import annotations

import queue
from itertools import repeat
from time import perf_counter_ns
from typing import Any

from bench.report import CaseResult, timing_pair
from bench.timing import Contender, Timing, measure

IDENT = "bench:job"


def _time_berrymq(twitter: Any, q: Any) -> Any:
    def run(n: int) -> int:
        tw, get, ident = twitter, q.get_nowait, IDENT
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            tw(ident, 1)
            get()
        return perf_counter_ns() - t0

    return run


def _time_stdlib(q: queue.Queue[Any]) -> Any:
    def run(n: int) -> int:
        put, get = q.put, q.get_nowait
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            put(1)
            get()
        return perf_counter_ns() - t0

    return run


def run_queue(*, n: int, rounds: int, warmup: int) -> tuple[list[CaseResult], dict[str, Timing]]:
    """Case 3: twitter + Queue.get_nowait against queue.Queue put + get_nowait."""
    from berrymq_django import Queue, default_dispatcher, twitter

    with default_dispatcher.isolate(), Queue(IDENT) as ours:
        twitter(IDENT, 1)
        message = ours.get_nowait()
        if message.args != (1,) or not ours.empty():
            raise AssertionError(f"Queue({IDENT!r}) round trip gave {message!r}")
        stdlib: queue.Queue[Any] = queue.Queue()
        timings = measure(
            [
                Contender("berrymq twitter + Queue.get_nowait", _time_berrymq(twitter, ours)),
                Contender("queue.Queue put + get_nowait", _time_stdlib(stdlib)),
            ],
            n=n,
            rounds=rounds,
            warmup=warmup,
        )
    t_ours, t_stdlib = timings.values()
    result = timing_pair("queue", "3 Queue round trip vs queue.Queue", t_ours, t_stdlib, 1.5)
    return [result], timings
