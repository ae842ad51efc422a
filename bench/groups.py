"""Follower groups across three worker processes on Redis, side by side with Celery.

Case ``groups``: this process twitters; three worker processes (started
with multiprocessing's spawn), each a Dispatcher on the Redis backend with
the same grouped follower, share the messages, each run once. Celery does
the same work, the tool Django users pick today for run-once work: a
trivial task sent with ``apply_async`` to a Redis broker, run by ``celery
worker --concurrency 3`` (prefork). Contenders, interleaved round by round:

=================  ==============================================================
berrymq grouped    twitter("bench:job", t) here; the follower of group "bench"
                   runs in one of the three workers
berrymq fan-out    twitter("bench:fan", t) here; a plain follower runs in each of
                   the three workers (context: every process gets every message)
celery             tick.apply_async((t,)) here; the task runs in one of the
                   three pool processes
=================  ==============================================================

Every follower and task does the same thing: it writes its latency (8 bytes)
to a FIFO this process reads, so arrivals are counted in one place on one
monotonic clock. A round's rate is N / (time of the last arrival - time of
the first send). Targets, on best rounds: grouped >= 50,000 msg/s, >= 10x
Celery's tasks/s, and a median latency twitter -> grouped follower <= 2 ms
under light load (one message every 2 ms). The ungrouped process-to-process
rate is the ``redis`` case's.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from importlib.util import find_spec
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter_ns, sleep
from typing import Any

from bench.redis_throughput import URL
from bench.redis_throughput import unavailable as redis_unavailable
from bench.report import CaseResult
from bench.timing import Timing

ROOT = Path(__file__).resolve().parent.parent
GROUPED, FANOUT = "bench:job", "bench:fan"
WORKERS = 3

TARGET_RATE = 50_000.0
TARGET_VS_CELERY = 10.0
TARGET_LATENCY_MS = 2.0


@dataclass(frozen=True)
class Plan:
    """Messages per round for each contender, and the latency probe."""

    n: int  # berryMQ, grouped and fan-out
    n_celery: int  # Celery is two orders of magnitude slower
    rounds: int
    latency_n: int
    latency_gap_s: float = 0.002


FULL = Plan(n=100_000, n_celery=2_000, rounds=3, latency_n=1_000)
QUICK = Plan(n=10_000, n_celery=300, rounds=1, latency_n=200)


def unavailable() -> str | None:
    """Return why the case cannot run here, or None when it can."""
    if find_spec("celery") is None:
        return "Celery is not installed (pip install -e '.[dev]')"
    return redis_unavailable()


# -- arrivals ------------------------------------------------------------------------------


class Arrivals:
    """Count 8-byte latency records written to a FIFO by any process; time the last one."""

    def __init__(self, path: str) -> None:
        os.mkfifo(path)
        self.path = path
        self._read = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(path, os.O_WRONLY)  # no end of file while writers come and go
        self._lock = threading.Lock()
        self._expected = -1
        self._count = 0
        self._latencies: list[int] | None = None
        self.done_at = 0
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def expect(self, n: int, latencies: bool = False) -> None:
        with self._lock:
            self._count, self._expected = 0, n
            self._latencies = [] if latencies else None
            self._done.clear()

    def wait(self, timeout: float, what: str) -> int:
        """Return the monotonic ns of the last expected arrival; RuntimeError if late."""
        if not self._done.wait(timeout):
            raise RuntimeError(f"{what}: {self._count} of {self._expected} arrived in {timeout} s")
        return self.done_at

    def latencies(self) -> list[int]:
        return list(self._latencies or [])

    def _run(self) -> None:
        unpack = struct.Struct("q").iter_unpack
        left = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._read], [], [], 0.1)
            if not ready:
                continue
            if self._latencies is None:
                sleep(0.002)  # counting only: let records pile up, read them in few calls
            data = left + os.read(self._read, 1 << 16)
            whole = len(data) - len(data) % 8
            data, left = data[:whole], data[whole:]
            with self._lock:
                self._count += whole // 8
                if self._latencies is not None:
                    self._latencies += [t for (t,) in unpack(data)]
                if self._count >= self._expected >= 0 and not self._done.is_set():
                    self.done_at = perf_counter_ns()
                    self._done.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._read)
        os.close(self._keep)
        os.unlink(self.path)


# -- berryMQ's workers ---------------------------------------------------------------------


def _worker(conn: Connection, url: str, prefix: str, fifo: str) -> None:
    from berrymq_django.backends.redis import RedisBackend
    from berrymq_django.core.dispatcher import Dispatcher

    fd = os.open(fifo, os.O_WRONLY)
    write, pack, clock = os.write, struct.Struct("q").pack, perf_counter_ns

    def job(message: Any) -> None:
        write(fd, pack(clock() - message.args[0]))

    backend = RedisBackend(URL=url, PREFIX=prefix)
    dispatcher = Dispatcher(backend=backend)
    dispatcher.register_function(GROUPED, job, group="bench")
    dispatcher.register_function(FANOUT, job)
    backend.ready(10)
    conn.send("ready")
    conn.recv()  # told to stop
    backend.close()


class _BerryMQ:
    """This process's sender and the three worker processes."""

    def __init__(self, prefix: str, fifo: str, n: int) -> None:
        from berrymq_django.backends.base import GroupPolicy
        from berrymq_django.backends.redis import RedisBackend
        from berrymq_django.core.dispatcher import Dispatcher

        context = multiprocessing.get_context("spawn")
        self.workers = []
        for _ in range(WORKERS):
            conn, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, URL, prefix, fifo), daemon=True)
            process.start()
            child.close()
            self.workers.append((process, conn))
        for _, conn in self.workers:
            if not conn.poll(60) or conn.recv() != "ready":
                raise RuntimeError("a berryMQ worker process did not start")
        self.backend = RedisBackend(URL=URL, PREFIX=prefix, BUFFER_SIZE=max(n, 100_000))
        # A whole round may wait in the group's stream: nothing is dropped.
        self.backend.configure_groups(GroupPolicy(maxlen=max(2 * n, GroupPolicy.maxlen)))
        self.dispatcher = Dispatcher(backend=self.backend)
        self.backend.ready(10)

    def send(self, identifier: str, n: int) -> None:
        twitter, clock = self.dispatcher.twitter, perf_counter_ns
        for _ in range(n):
            twitter(identifier, clock())

    def probe(self, n: int, gap: float) -> None:
        for _ in range(n):
            self.dispatcher.twitter(GROUPED, perf_counter_ns())
            sleep(gap)

    def close(self) -> None:
        self.backend.close()
        for process, conn in self.workers:
            with contextlib.suppress(OSError):
                conn.send("stop")
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()


# -- Celery ----------------------------------------------------------------------------------


class _Celery:
    """``celery worker -c 3`` on a queue of its own, and this process's producer."""

    def __init__(self, fifo: str, arrivals: Arrivals) -> None:
        self.queue = f"berrymq-bench-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "BERRYMQ_BENCH_CELERY_BROKER": URL,
            "BERRYMQ_BENCH_CELERY_QUEUE": self.queue,
            "BERRYMQ_BENCH_ARRIVALS": fifo,
        }
        from bench.celery_app import app, tick

        self.app, self.tick = app, tick
        self.app.conf.broker_url = URL
        self.app.conf.task_default_queue = self.queue
        command = [
            *(sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker"),
            *("--concurrency", str(WORKERS), "--pool", "prefork", "--loglevel", "WARNING"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", self.queue),
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        arrivals.expect(WORKERS * 4)  # up once every pool process ran a task
        self.send(WORKERS * 4)
        arrivals.wait(60, "celery worker start")

    def send(self, n: int) -> None:
        apply_async, clock = self.tick.apply_async, perf_counter_ns
        for _ in range(n):
            apply_async((clock(),))

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.app.close()


# -- the case ---------------------------------------------------------------------------------


def run_groups(plan: Plan) -> tuple[list[CaseResult], dict[str, Timing]]:
    """Run every contender for plan.rounds interleaved rounds; return rows and timings."""
    prefix = f"berrymq-bench-{uuid.uuid4().hex[:8]}"
    fifo = os.path.join(tempfile.mkdtemp(prefix="berrymq-bench-"), "arrivals")
    arrivals = Arrivals(fifo)
    ours: _BerryMQ | None = None
    celery: _Celery | None = None
    labels = {
        "grouped": "berrymq grouped follower, 3 workers",
        "fanout": "berrymq plain follower in each of 3 workers",
        "celery": "celery apply_async -> task, worker -c 3",
    }
    sizes = {"grouped": plan.n, "fanout": plan.n, "celery": plan.n_celery}
    try:
        ours = berrymq = _BerryMQ(prefix, fifo, plan.n)
        celery = _Celery(fifo, arrivals)
        senders = {
            "grouped": lambda n: berrymq.send(GROUPED, n),
            "fanout": lambda n: berrymq.send(FANOUT, n),
            "celery": celery.send,
        }
        per_arrival = {"grouped": 1, "fanout": WORKERS, "celery": 1}

        def round_ns(name: str, n: int) -> float:
            arrivals.expect(n * per_arrival[name])
            started = perf_counter_ns()
            senders[name](n)
            return (arrivals.wait(300, labels[name]) - started) / n

        for name in senders:  # warm up: connections, routes, pools
            round_ns(name, max(sizes[name] // 20, 10))
        rounds: dict[str, list[float]] = {name: [] for name in senders}
        order = list(senders)
        for round_no in range(plan.rounds):
            shift = round_no % len(order)
            for name in (*order[shift:], *order[:shift]):
                rounds[name].append(round_ns(name, sizes[name]))
        arrivals.expect(plan.latency_n, latencies=True)
        berrymq.probe(plan.latency_n, plan.latency_gap_s)
        arrivals.wait(60, "latency probe")
        latencies = arrivals.latencies()
    finally:
        if celery is not None:
            celery.close()
        if ours is not None:
            ours.close()
        arrivals.close()
        _delete(prefix, celery.queue if celery is not None else None)
    return _results(plan, labels, sizes, rounds, latencies)


def _results(
    plan: Plan,
    labels: dict[str, str],
    sizes: dict[str, int],
    rounds: dict[str, list[float]],
    latencies: list[int],
) -> tuple[list[CaseResult], dict[str, Timing]]:
    timings = {
        labels[name]: Timing(labels[name], sizes[name], tuple(per_msg))
        for name, per_msg in rounds.items()
    }
    rate = {name: 1e9 / timings[labels[name]].best_ns for name in rounds}
    median = {name: 1e9 / timings[labels[name]].median_ns for name in rounds}
    details = {
        "groups contenders (msg/s, best / median round)": "; ".join(
            f"{labels[name]} {rate[name]:,.0f} / {median[name]:,.0f} (N={sizes[name]})"
            for name in rounds
        ),
    }
    results = [
        CaseResult(
            key="groups_rate",
            title="groups: grouped msg/s handled, 3 workers",
            unit="msg/s",
            ours=rate["grouped"],
            ours_median=median["grouped"],
            target=TARGET_RATE,
            higher_is_better=True,
            details=details,
        ),
        CaseResult(
            key="groups_vs_celery",
            title="groups: vs Celery tasks/s (-c 3)",
            unit="msg/s",
            ours=rate["grouped"],
            ours_median=median["grouped"],
            anchor=rate["celery"],
            anchor_median=median["celery"],
            anchor_label=labels["celery"],
            target=TARGET_VS_CELERY,
            higher_is_better=True,
        ),
        CaseResult(
            key="groups_fanout",
            title="groups: ungrouped fan-out to 3 workers",
            unit="msg/s",
            ours=rate["fanout"],
            ours_median=median["fanout"],
            target=None,
            higher_is_better=True,
        ),
        CaseResult(
            key="groups_latency",
            title="groups: median latency, 500 msg/s",
            unit="ms",
            ours=statistics.median(latencies) / 1e6,
            target=TARGET_LATENCY_MS,
            details={
                "p90 ms": round(_percentile(latencies, 0.9) / 1e6, 3),
                "p99 ms": round(_percentile(latencies, 0.99) / 1e6, 3),
                "messages": len(latencies),
            },
        ),
    ]
    return results, timings


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def _delete(prefix: str, queue: str | None) -> None:
    import redis

    client = redis.Redis.from_url(URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if queue is not None:
            keys += [queue, f"_kombu.binding.{queue}"]
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()
