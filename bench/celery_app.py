"""The Celery side of the ``groups`` case: one trivial task, run by ``celery worker -c 3``.

Started by bench/groups.py as ``celery -A bench.celery_app worker`` with
BERRYMQ_BENCH_CELERY_BROKER (a Redis URL), BERRYMQ_BENCH_CELERY_QUEUE and
BERRYMQ_BENCH_ARRIVALS (the FIFO the bench counts arrivals on) in its
environment. The task does what berryMQ's grouped follower does in that
case: it writes its latency, 8 bytes, to the FIFO.
"""

from __future__ import annotations

import os
import struct
from time import perf_counter_ns

from celery import Celery

app = Celery("berrymq_bench", broker=os.environ.get("BERRYMQ_BENCH_CELERY_BROKER"))
app.conf.update(
    task_ignore_result=True,
    task_default_queue=os.environ.get("BERRYMQ_BENCH_CELERY_QUEUE", "berrymq-bench"),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_pack = struct.Struct("q").pack
_fifo: list[int] = []  # the write end, opened once per worker process


@app.task(name="bench.tick")
def tick(sent_ns: int) -> None:
    """Report this task's latency to the bench, as the grouped follower does."""
    if not _fifo:
        _fifo.append(os.open(os.environ["BERRYMQ_BENCH_ARRIVALS"], os.O_WRONLY))
    os.write(_fifo[0], _pack(perf_counter_ns() - sent_ns))
