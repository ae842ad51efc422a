"""Memory held by queued messages, measured with tracemalloc.

Case ``memory``: a Queue holding 1,000,000 messages, each sent as
``twitter(IDENT, 1, 2)`` (two small ints, which CPython caches, so only the
message's own structures are counted), must hold at most 250 bytes per
message. The figure counts everything allocated while sending and still
alive afterwards: the Message, its args tuple, its timestamp float, and the
queue's share of its buffer.
"""

from __future__ import annotations

import tracemalloc
from itertools import repeat
from time import perf_counter_ns

from bench.report import CaseResult
from bench.timing import gc_paused

IDENT = "bench:mem"
TARGET_BYTES = 250


def run_memory(*, n: int) -> CaseResult:
    """Case 4: bytes per message queued in an unbounded Queue."""
    from berrymq_django import Queue, default_dispatcher, twitter

    with default_dispatcher.isolate(), Queue(IDENT) as q:
        # Warm caches (identifier parse, route) so they are not charged to messages.
        for _ in range(100):
            twitter(IDENT, 1, 2)
        while not q.empty():
            q.get_nowait()

        tw, ident = twitter, IDENT
        with gc_paused():
            tracemalloc.start()
            try:
                before, _ = tracemalloc.get_traced_memory()
                t0 = perf_counter_ns()
                for _ in repeat(None, n):
                    tw(ident, 1, 2)
                elapsed_ns = perf_counter_ns() - t0
                after, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        queued = q.qsize()
        if queued != n:
            raise AssertionError(f"Queue({IDENT!r}) holds {queued} messages, expected {n}")
        first = q.get_nowait()
        if first.args != (1, 2):
            raise AssertionError(f"Queue({IDENT!r}) gave {first!r}")
    return CaseResult(
        key="memory",
        title=f"4 Queue memory, {n:,} msgs x 2 ints",
        unit="B/msg",
        ours=(after - before) / n,
        target=TARGET_BYTES,
        details={
            "n": n,
            "bytes": after - before,
            "peak_bytes_per_msg": round((peak - before) / n, 1),
            "us_per_send_under_tracemalloc": round(elapsed_ns / n / 1000, 3),
        },
    )
