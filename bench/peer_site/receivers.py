"""The follower on site B: counts each run's messages and checks they come once, in order.

Site A twitters ``(run, index, sent_at)``; a run is complete and correct when
``count`` reached N with no ``anomalies`` (an index other than the next one
expected means a loss, a duplicate or a reordering). A process restarted in
the middle of a run starts counting at the index it first sees; with
``BERRYMQ_BENCH_STATE`` set, it writes its runs there as JSON when it exits,
so the two halves can be joined. ``BERRYMQ_BENCH_RECEIVE=0`` (site A) leaves
the follower out, so the sending site does not time its own messages.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass, field

from bench.peer_site import IDENTIFIER
from berrymq_django import Message, register_function


@dataclass
class Run:
    first_index: int = 0
    count: int = 0
    expected: int = 0
    anomalies: int = 0
    first_sent: float = 0.0
    last_received: float = 0.0
    latencies: list[float] = field(default_factory=list)


lock = threading.Lock()
runs: dict[str, Run] = {}


def receive(message: Message) -> None:
    """Check the message's index against the next one expected and time it."""
    now = time.time()
    run_id, index, sent_at = message.args
    with lock:
        run = runs.get(run_id)
        if run is None:
            run = runs[run_id] = Run(first_index=index, expected=index, first_sent=sent_at)
        if index != run.expected:
            run.anomalies += 1
        run.expected = index + 1
        run.count += 1
        run.last_received = now
        run.latencies.append(now - sent_at)


if os.environ.get("BERRYMQ_BENCH_RECEIVE", "1") != "0":
    register_function(IDENTIFIER, receive)


def _dump_state() -> None:
    with lock:
        state = {
            run_id: {k: v for k, v in dataclasses.asdict(run).items() if k != "latencies"}
            for run_id, run in runs.items()
        }
    with open(os.environ["BERRYMQ_BENCH_STATE"], "w") as file:
        json.dump(state, file)


if os.environ.get("BERRYMQ_BENCH_STATE"):
    atexit.register(_dump_state)
