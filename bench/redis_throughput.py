"""Process-to-process throughput and latency of the Redis backend.

Case ``redis``: messages go from this process to a follower in another one
(started with multiprocessing's spawn), through the Redis at
BERRYMQ_BENCH_REDIS_URL (default: BERRYMQ_TEST_REDIS_URL, else
redis://127.0.0.1:6379/15). Contenders, interleaved round by round:

==================  ===========================================================
berrymq             twitter("bench:tick", i) here; a function follower counts
                    in the other process (RedisBackend on both sides)
raw PUBLISH         redis-py, pipelined PUBLISH of a payload as big as
                    berryMQ's message, 1,000 per round trip; the other
                    process counts with PubSub.get_message
channels_redis      group_send() here, receive() there (one channel in the
                    group; capacity raised so nothing is dropped)
==================  ===========================================================

A round's rate is N / (time of the last message received there - time of the
first send here); both ends read the same monotonic clock. Targets, on best
rounds: berryMQ >= 50,000 msg/s, >= 75x channels_redis, >= 0.3x raw PUBLISH,
and a median latency <= 5 ms under light load (one message every 2 ms).

The berryMQ sender's BUFFER_SIZE is raised to N so that a whole round fits
in it (twitter() never blocks: beyond the buffer it would drop).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import threading
import uuid
from dataclasses import dataclass
from importlib.util import find_spec
from multiprocessing.connection import Connection
from time import perf_counter_ns, sleep
from typing import Any

from bench.report import CaseResult
from bench.timing import Timing

URL = os.environ.get(
    "BERRYMQ_BENCH_REDIS_URL",
    os.environ.get("BERRYMQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
)
IDENT = "bench:tick"
GROUP = "bench"

TARGET_RATE = 50_000.0
TARGET_VS_CHANNELS = 75.0
TARGET_VS_RAW = 0.3
TARGET_LATENCY_MS = 5.0


@dataclass(frozen=True)
class Plan:
    """Messages per round for each contender, and the latency probe."""

    n: int  # berryMQ and raw PUBLISH
    n_channels: int  # channels_redis is two orders of magnitude slower
    rounds: int
    latency_n: int
    latency_gap_s: float = 0.002


FULL = Plan(n=200_000, n_channels=2_000, rounds=3, latency_n=1_000)
QUICK = Plan(n=10_000, n_channels=200, rounds=1, latency_n=200)


def unavailable() -> str | None:
    """Return why the case cannot run here, or None when it can."""
    if find_spec("redis") is None:
        return "redis-py is not installed (pip install 'berrymq-django[redis]')"
    import redis

    client = redis.Redis.from_url(URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"no Redis answers at {URL} ({exc}); set BERRYMQ_BENCH_REDIS_URL"
    finally:
        client.close()
    return None


# -- the receiving process ---------------------------------------------------------------


class _Counter:
    """Count arrivals; note the clock when the expected number is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.expected = -1
        self.done_at = 0
        self.done = threading.Event()
        self.latencies: list[int] | None = None

    def expect(self, n: int, latencies: bool = False) -> None:
        self.done.clear()
        self.count = 0
        self.latencies = [] if latencies else None
        self.expected = n

    def arrived(self, sent_ns: int | None = None) -> None:
        if self.latencies is not None and sent_ns is not None:
            self.latencies.append(perf_counter_ns() - sent_ns)
        self.count += 1
        if self.count == self.expected:
            self.done_at = perf_counter_ns()
            self.done.set()


def _serve(conn: Connection, counter: _Counter) -> None:
    """Answer the bench process's commands until told to stop."""
    conn.send("ready")
    while True:
        command, n = conn.recv()
        if command == "stop":
            return
        counter.expect(n, latencies=command == "latency")
        conn.send("armed")
        arrived = counter.done.wait(120)
        if command == "latency":
            conn.send(counter.latencies if arrived else None)
        else:
            conn.send(counter.done_at if arrived else None)


def _receive_berrymq(conn: Connection, url: str, prefix: str) -> None:
    from berrymq_django.backends.redis import RedisBackend
    from berrymq_django.core.dispatcher import Dispatcher

    counter = _Counter()
    backend = RedisBackend(URL=url, PREFIX=prefix)
    dispatcher = Dispatcher(backend=backend)
    dispatcher.register_function(IDENT, lambda message: counter.arrived(message.args[0]))
    backend.ready(10)
    try:
        _serve(conn, counter)
    finally:
        backend.close()


def _receive_raw(conn: Connection, url: str, channel: str) -> None:
    import orjson
    import redis

    counter = _Counter()
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    pubsub.get_message(timeout=5)  # the subscription confirmation
    stop = threading.Event()

    def listen() -> None:
        get = pubsub.get_message
        arrived = counter.arrived
        while not stop.is_set():
            message = get(timeout=0.2)
            if message is not None and message["type"] == "message":
                if counter.latencies is None:
                    arrived()  # counting only: the anchor pays for nothing else
                else:
                    arrived(orjson.loads(message["data"])["args"][0])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        _serve(conn, counter)
    finally:
        stop.set()
        thread.join()
        pubsub.close()
        client.close()


def _receive_channels(conn: Connection, url: str, prefix: str) -> None:
    from channels_redis.core import RedisChannelLayer

    counter = _Counter()

    async def main() -> None:
        layer = RedisChannelLayer(hosts=[url], prefix=prefix, capacity=1_000_000)
        channel = await layer.new_channel()
        await layer.group_add(GROUP, channel)
        task = asyncio.ensure_future(_serve_async())
        while not task.done():
            receive = asyncio.ensure_future(layer.receive(channel))
            await asyncio.wait({receive, task}, return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
            elif receive.exception() is None:
                counter.arrived(receive.result()["sent"])
            # else: channels_redis timed out waiting while other contenders ran; wait again
        await layer.flush()

    async def _serve_async() -> None:
        await asyncio.to_thread(_serve, conn, counter)

    asyncio.run(main())


# -- the sending side ------------------------------------------------------------------------


class _Peer:
    """A receiving process and the pipe to command it."""

    def __init__(self, target: Any, *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(60) or self.conn.recv() != "ready":
            raise RuntimeError(f"the receiving process for {target.__name__} did not start")

    def arm(self, command: str, n: int) -> None:
        self.conn.send((command, n))
        assert self.conn.recv() == "armed"

    def result(self) -> Any:
        if not self.conn.poll(180):
            raise RuntimeError("the receiving process did not answer")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop", 0))
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class _Contender:
    """Send n messages to a peer; return the round's elapsed ns (first send to last arrival)."""

    label = ""

    def __init__(self, peer: _Peer) -> None:
        self.peer = peer

    def round(self, n: int) -> int:
        self.peer.arm("count", n)
        started = perf_counter_ns()
        self.send(n)
        done_at = self.peer.result()
        if done_at is None:
            raise RuntimeError(f"{self.label}: not every message arrived")
        return int(done_at - started)

    def send(self, n: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.peer.stop()


class _BerryMQ(_Contender):
    label = "berrymq twitter -> follower (RedisBackend)"

    def __init__(self, prefix: str, n: int) -> None:
        from berrymq_django.backends.redis import RedisBackend
        from berrymq_django.core.dispatcher import Dispatcher

        super().__init__(_Peer(_receive_berrymq, URL, prefix))
        self.backend = RedisBackend(URL=URL, PREFIX=prefix, BUFFER_SIZE=max(n, 100_000))
        self.dispatcher = Dispatcher(backend=self.backend)
        self.backend.ready(10)

    def send(self, n: int) -> None:
        twitter, ident, clock = self.dispatcher.twitter, IDENT, perf_counter_ns
        for _ in range(n):
            twitter(ident, clock())

    def latencies(self, n: int, gap: float) -> list[int]:
        self.peer.arm("latency", n)
        for _ in range(n):
            self.dispatcher.twitter(IDENT, perf_counter_ns())
            sleep(gap)
        found: list[int] | None = self.peer.result()
        if found is None:
            raise RuntimeError("berrymq latency: not every message arrived")
        return found

    def close(self) -> None:
        super().close()
        self.backend.close()


class _RawPublish(_Contender):
    label = "raw redis-py pipelined PUBLISH (1000/trip)"

    def __init__(self) -> None:
        import orjson
        import redis

        from berrymq_django.core.message import Message

        self.channel = f"berrymq-bench-raw-{uuid.uuid4().hex[:8]}"
        super().__init__(_Peer(_receive_raw, URL, self.channel))
        self.client = redis.Redis.from_url(URL)
        # A payload shaped like berryMQ's wire form of the same message.
        self.template = Message(IDENT, (0,), {}, "bench-node").to_dict()
        self.dumps = orjson.dumps

    def send(self, n: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        publish, channel = pipe.publish, self.channel
        payload = self.dumps(self.template)  # built once: the anchor pays for PUBLISH only
        for i in range(1, n + 1):
            publish(channel, payload)
            if not i % 1000:
                pipe.execute()
        pipe.execute()

    def latencies(self, n: int, gap: float) -> list[int]:
        self.peer.arm("latency", n)
        for _ in range(n):
            self.template["args"] = [perf_counter_ns()]
            self.client.publish(self.channel, self.dumps(self.template))
            sleep(gap)
        found: list[int] | None = self.peer.result()
        if found is None:
            raise RuntimeError("raw latency: not every message arrived")
        return found

    def close(self) -> None:
        super().close()
        self.client.close()


class _Channels(_Contender):
    label = "channels_redis group_send -> receive"

    def __init__(self, prefix: str) -> None:
        from channels_redis.core import RedisChannelLayer

        super().__init__(_Peer(_receive_channels, URL, prefix))
        self.loop = asyncio.new_event_loop()
        self.layer = RedisChannelLayer(hosts=[URL], prefix=prefix, capacity=1_000_000)

    def send(self, n: int) -> None:
        async def send_all() -> None:
            group_send = self.layer.group_send
            for _ in range(n):
                await group_send(GROUP, {"type": "bench.tick", "sent": perf_counter_ns()})

        self.loop.run_until_complete(send_all())

    def close(self) -> None:
        super().close()
        self.loop.run_until_complete(self.layer.flush())
        self.loop.close()


# -- the case -------------------------------------------------------------------------------


def run_redis(plan: Plan) -> tuple[list[CaseResult], dict[str, Timing]]:
    """Run every contender for plan.rounds interleaved rounds; return rows and timings."""
    prefix = f"berrymq-bench-{uuid.uuid4().hex[:8]}"
    contenders: list[tuple[_Contender, int]] = []
    channels: _Channels | None = None
    try:
        ours = _BerryMQ(prefix, plan.n)
        raw = _RawPublish()
        contenders += [(ours, plan.n), (raw, plan.n)]
        if find_spec("channels_redis") is not None:
            channels = _Channels(prefix + "-channels")
            contenders.append((channels, plan.n_channels))
        for contender, n in contenders:  # warm up: connections, routes, caches
            contender.round(max(n // 20, 10))
        rounds_ns: dict[str, list[float]] = {c.label: [] for c, _ in contenders}
        for round_no in range(plan.rounds):
            shift = round_no % len(contenders)
            for contender, n in (*contenders[shift:], *contenders[:shift]):
                rounds_ns[contender.label].append(contender.round(n) / n)
        ours_latency = ours.latencies(plan.latency_n, plan.latency_gap_s)
        raw_latency = raw.latencies(plan.latency_n, plan.latency_gap_s)
    finally:
        for contender, _ in contenders:
            contender.close()
        _delete_prefix(prefix)

    sizes = {c.label: n for c, n in contenders}
    timings = {
        label: Timing(label, sizes[label], tuple(per_msg)) for label, per_msg in rounds_ns.items()
    }
    rate = {label: 1e9 / t.best_ns for label, t in timings.items()}
    median_rate = {label: 1e9 / t.median_ns for label, t in timings.items()}
    details = {
        "redis contenders (msg/s, best / median round)": "; ".join(
            f"{label} {rate[label]:,.0f} / {median_rate[label]:,.0f} (N={sizes[label]})"
            for label in rate
        ),
        "redis berrymq BUFFER_SIZE": max(plan.n, 100_000),
    }

    def _versus(
        key: str, title: str, ours: _Contender, anchor: _Contender, target: float
    ) -> CaseResult:
        """A row comparing our rate with anchor's, best and median rounds."""
        return CaseResult(
            key=key,
            title=title,
            unit="msg/s",
            ours=rate[ours.label],
            ours_median=median_rate[ours.label],
            anchor=rate[anchor.label],
            anchor_median=median_rate[anchor.label],
            anchor_label=anchor.label,
            target=target,
            higher_is_better=True,
        )

    results = [
        CaseResult(
            key="redis_rate",
            title="redis: twitter -> follower in another process",
            unit="msg/s",
            ours=rate[ours.label],
            ours_median=median_rate[ours.label],
            target=TARGET_RATE,
            higher_is_better=True,
            details=details,
        ),
        _versus("redis_vs_raw", "redis: vs raw pipelined PUBLISH", ours, raw, TARGET_VS_RAW),
    ]
    if channels is not None:
        title = "redis: vs channels_redis"
        results.append(_versus("redis_vs_channels", title, ours, channels, TARGET_VS_CHANNELS))
    results.append(
        CaseResult(
            key="redis_latency",
            title="redis: median latency, 500 msg/s",
            unit="ms",
            ours=statistics.median(ours_latency) / 1e6,
            target=TARGET_LATENCY_MS,
            details={
                "p90 ms": round(_percentile(ours_latency, 0.9) / 1e6, 3),
                "p99 ms": round(_percentile(ours_latency, 0.99) / 1e6, 3),
                "raw PUBLISH median ms": round(statistics.median(raw_latency) / 1e6, 3),
                "messages": len(ours_latency),
            },
        )
    )
    return results, timings


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def _delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(URL)
    try:
        for pattern in (f"{prefix}:*", f"{prefix}-channels*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
