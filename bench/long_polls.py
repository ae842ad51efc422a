"""Long polls at scale: sync gunicorn gthread against ASGI uvicorn, side by side in one run.

Case ``long_polls``: the bench site (``bench/sites``) runs twice at once, under
gunicorn with one gthread worker (threads: the polls it is to hold, plus a
few for the bench's own calls) and under uvicorn (one process). For each:

1. ``send_message`` rate: 16 keep-alive connections send single messages for a
   few seconds, rounds interleaved between the two servers; beside it, the
   rate of a plain Django view on each server: Django's own ASGI/WSGI ratio.
2. N queue connections (``connect_via_queue("wake:*")``) are opened, the
   server's VmRSS read (/proc/<pid>/status), then a ``get`` waits on each,
   over a connection of its own (``_Poll``: an asyncio protocol, a few KB
   per poll on the bench side). Once ``status`` reports all N waiting
   (``waiting_gets``) the RSS and the thread count are read again: the
   difference over N is the memory per waiting poll.
3. One ``send_message`` of "wake:up" wakes them all; each poll's latency is
   from that send until the last byte of its answer arrives. Every answer
   must be the message. The server's CPU time over the wake-up, per poll, is
   reported beside the latencies: on a shared machine latencies follow the
   load, CPU time much less.
4. The floor: the same uvicorn serving a bare ASGI app whose requests only
   wait (``bench/sites/bare_asgi.py``), N requests the size of a get held
   and woken the same way. What uvicorn itself costs per waiting request,
   and how fast one loop answers N, beside ours.

Targets (issue 13 §5): ASGI holds >= 5,000 polls; wakes them with p99 <= 1 s
and median <= 250 ms; its memory per waiting poll <= 1/4 of the sync path's;
its single ``send_message`` rate >= 0.9x the sync one. The sync server holds
as many polls as it has threads (``Plan.sync_polls``): each waiting poll is a
thread there.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, cast

from bench.report import CaseResult, throughput_pair
from bench.timing import Throughput
from tests.support import SiteProcess, eventually
from tests.support.rawhttp import post, read_response

RPC = "/berrymq/rpc/"
SPARE_THREADS = 16  # the sync server's threads beyond its polls, for the bench's own calls


@dataclass(frozen=True)
class Plan:
    """How many polls each server holds, and how long the send_message rate is measured."""

    asgi_polls: int
    sync_polls: int
    rate_seconds: float
    rounds: int
    connections: int = 16


FULL = Plan(asgi_polls=5_000, sync_polls=1_000, rate_seconds=3.0, rounds=3)
QUICK = Plan(asgi_polls=200, sync_polls=100, rate_seconds=1.0, rounds=1)


def unavailable() -> str | None:
    """Return why the case cannot run here, or None when it can."""
    for module in ("gunicorn", "uvicorn"):
        if find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[dev]')"
    return None


@dataclass
class PollRun:
    """One server's long polls: how many were held, what they cost, how fast they woke."""

    polls: int
    held: int
    rss_before_kb: int
    rss_waiting_kb: int
    threads_waiting: int
    latencies_s: list[float]
    wake_cpu_s: float  # the server's CPU time from the wake-up until every poll was answered

    @property
    def kb_per_poll(self) -> float:
        return (self.rss_waiting_kb - self.rss_before_kb) / max(self.held, 1)

    @property
    def wake_cpu_us(self) -> float:
        """Server CPU µs per woken poll: steady on a busy machine, unlike latencies."""
        return 1e6 * self.wake_cpu_s / max(len(self.latencies_s), 1)

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Server:
    """One bench site process, with the calls the case makes on it."""

    def __init__(self, site: SiteProcess, label: str, key: str) -> None:
        self.site = site
        self.label = label
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, params: Any) -> Any:
        body = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        answer = self.site.http.post(RPC, json=body, headers=self.headers, timeout=120).json()
        if "result" not in answer:
            raise AssertionError(f"{self.label}: {method} failed: {answer}")
        return answer["result"]

    def connect_queues(self, pattern: str, n: int) -> list[str]:
        tokens: list[str] = []
        while len(tokens) < n:
            batch = [
                {
                    "jsonrpc": "2.0",
                    "method": "connect_via_queue",
                    "params": [pattern, 3600],
                    "id": i,
                }
                for i in range(min(500, n - len(tokens)))
            ]
            answers = self.site.http.post(RPC, json=batch, headers=self.headers).json()
            tokens += [a["result"] for a in answers]
        return tokens

    def worker_pid(self) -> int:
        """The process serving requests: uvicorn itself, or gunicorn's one worker."""
        assert self.site.pid is not None
        if self.site.server == "uvicorn":
            return self.site.pid
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rpartition(")")[2].split()[1]) == self.site.pid:
                    return int(stat.parent.name)
            except (OSError, ValueError, IndexError):
                continue
        raise RuntimeError(f"{self.label}: no worker process under pid {self.site.pid}")

    def proc_status(self, field: str) -> int:
        for line in Path(f"/proc/{self.worker_pid()}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"{self.label}: no {field} in /proc status")

    def cpu_seconds(self) -> float:
        """The serving process's CPU time so far, summed over its threads (Linux /proc).

        From each thread's schedstat, in nanoseconds: /proc/PID/stat counts clock
        ticks (10 ms here), too coarse for a quick run's wake-up of 200 polls.
        """
        total = 0
        for schedstat in Path(f"/proc/{self.worker_pid()}/task").glob("*/schedstat"):
            try:
                total += int(schedstat.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended meanwhile
        return total / 1e9

    def waiting(self) -> int:
        count: int = self.call("status", [])["waiting_gets"]
        return count


@dataclass(frozen=True)
class Load:
    """One request sent again and again for the rate: to path, answered with ok in its body."""

    name: str
    path: str
    body: bytes
    ok: bytes
    per_request: int


def loads(token: str) -> list[Load]:
    """send_message of one message, and Django's floor: a plain view on the same server."""
    call = {"jsonrpc": "2.0", "method": "send_message", "params": [token, "bench:rate", [1]]}
    body = json.dumps({**call, "id": 1}).encode()
    return [
        Load("send_message", RPC, body, b'"result":"ok"', 1),
        Load("plain Django view", "/plain/", body, b'"ok"', 0),
    ]


def _request(load: Load, headers: dict[str, str], port: int) -> bytes:
    lines = [f"POST {load.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += ["Content-Type: application/json", f"Content-Length: {len(load.body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + load.body


async def _send_loop(
    port: int, request: bytes, ok: bytes, stop_at: float
) -> tuple[int, int, list[float]]:
    """Send request again and again on one keep-alive connection; count answers and errors."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = errors = 0
    latencies: list[float] = []
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            status, body = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status == 200 and ok in body:
                done += 1
            else:
                errors += 1
    finally:
        writer.transport.abort()
    return done, errors, latencies


async def send_rate(server: Server, load: Load, plan: Plan) -> tuple[float, int, int, list[float]]:
    """Send load on plan.connections connections: req/s, answers, errors, latencies."""
    port = server.site.port
    request = _request(load, server.headers, port)
    started = time.perf_counter()
    stop_at = started + plan.rate_seconds
    runs = await asyncio.gather(
        *(_send_loop(port, request, load.ok, stop_at) for _ in range(plan.connections))
    )
    elapsed = time.perf_counter() - started
    done = sum(r[0] for r in runs)
    return done / elapsed, done, sum(r[1] for r in runs), [x for r in runs for x in r[2]]


@dataclass(frozen=True)
class Polls:
    """One server's polls: where each is sent and its body, how to count and wake them."""

    path: str
    bodies: list[bytes]
    waiting: Callable[[], int]
    wake_path: str
    wake_body: bytes


async def berrymq_polls(server: Server, n: int) -> Polls:
    """n gets, each on a queue connection of its own, woken by one send_message."""
    tokens = await asyncio.to_thread(server.connect_queues, "wake:*", n)
    sender = await asyncio.to_thread(server.call, "connect_oneway", [3600])
    bodies = [
        json.dumps({"jsonrpc": "2.0", "method": "get", "params": [t], "id": 1}).encode()
        for t in tokens
    ]
    wake = {"jsonrpc": "2.0", "method": "send_message", "params": [sender, "wake:up"], "id": 1}
    return Polls(RPC, bodies, server.waiting, RPC, json.dumps(wake).encode())


async def bare_polls(server: Server, n: int) -> Polls:
    """n requests to the bare app (bench/sites/bare_asgi.py), each the size of a get."""
    body = json.dumps(
        {"jsonrpc": "2.0", "method": "get", "params": [secrets.token_urlsafe(32)], "id": 1}
    ).encode()
    return Polls(
        "/wait", [body] * n, lambda: int(server.site.http.get("/count").text), "/wake", b""
    )


class _Poll(asyncio.Protocol):
    """One long poll on a connection of its own: the answer timed as its last byte arrives.

    A protocol, not a stream and a task: the load generator shares the two
    cores with the server, and what it spends per answer would show as
    latency. The answer is read with Content-Length, chunked, or to the close.
    """

    def __init__(self, request: bytes, answered: Callable[[], None]) -> None:
        self.request = request
        self.answered = answered
        self.data = bytearray()
        self.at: float | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.data += data
        head_end = self.data.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.data[:head_end]).lower()
        if b"content-length:" in head:
            length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            complete = len(self.data) >= head_end + 4 + length
        else:
            complete = b"transfer-encoding: chunked" in head and self.data.endswith(b"0\r\n\r\n")
        if complete:
            self._done()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done()  # answered to the close, or not at all (status() tells)

    def _done(self) -> None:
        if self.at is None:
            self.at = time.perf_counter()
            self.answered()
            if self.transport is not None:
                self.transport.abort()

    def status(self) -> int:
        try:
            return int(self.data[9:12])
        except ValueError:
            return 0

    def result(self) -> dict[str, Any]:
        """The JSON body's result (a chunked body's chunks are found by their brackets)."""
        body = bytes(self.data[self.data.find(b"\r\n\r\n") + 4 :])
        start, end = body.find(b"{"), body.rfind(b"}")
        answer = json.loads(body[start : end + 1]) if start >= 0 else {}
        return answer.get("result") or {}


def _poll_request(path: str, port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def hold_and_wake(server: Server, polls: Polls) -> PollRun:
    """Hold the polls, read what they cost, wake them all with one request, time each."""
    port, n = server.site.port, len(polls.bodies)
    loop = asyncio.get_running_loop()
    all_answered = loop.create_future()
    left = [n]

    def answered() -> None:
        left[0] -= 1
        if left[0] == 0 and not all_answered.done():
            all_answered.set_result(None)

    rss_before = server.proc_status("VmRSS")
    waiting: list[_Poll] = []
    for body in polls.bodies:
        poll = _Poll(_poll_request(polls.path, port, body, server.headers), answered)
        await loop.create_connection(lambda: poll, "127.0.0.1", port)  # noqa: B023 (awaited here)
        waiting.append(poll)
    held = await asyncio.to_thread(
        eventually, polls.waiting, lambda count: count >= n, timeout=120, interval=0.2
    )
    rss_waiting, threads = server.proc_status("VmRSS"), server.proc_status("Threads")
    cpu_before = server.cpu_seconds()
    sent_at = time.perf_counter()
    status, data = await post(port, polls.wake_path, polls.wake_body, server.headers)
    if status != 200:
        raise AssertionError(f"{server.label}: the wake-up answered {status} {data[:200]!r}")
    await asyncio.wait_for(all_answered, 300)
    wake_cpu = server.cpu_seconds() - cpu_before
    for poll in waiting:
        if poll.status() != 200 or poll.result().get("id") != "wake:up":
            raise AssertionError(f"{server.label}: a poll answered {bytes(poll.data[:300])!r}")
    latencies = [poll.at - sent_at for poll in waiting if poll.at is not None]
    return PollRun(n, held, rss_before, rss_waiting, threads, latencies, wake_cpu)


async def hold_and_wake_gets(server: Server, n: int) -> PollRun:
    """Hold n berryMQ gets on server and wake them (hold_and_wake)."""
    return await hold_and_wake(server, await berrymq_polls(server, n))


async def hold_and_wake_bare(server: Server, n: int) -> PollRun:
    """Hold n requests on the bare app and wake them: the server's own floor."""
    return await hold_and_wake(server, await bare_polls(server, n))


def _site(server: str, workdir: Path, key: str, plan: Plan) -> SiteProcess:
    env = {"BERRYMQ_BENCH_KEY": key, "BERRYMQ_BENCH_MAX_POLL": "600"}
    common = {"settings": "bench.sites.settings", "ready": "/stats/", "env": env}
    if server in ("bare", "uvicorn"):
        app, ready = {
            "bare": ("bench.sites.bare_asgi:app", "/count"),
            "uvicorn": ("bench.sites.asgi:application", "/stats/"),
        }[server]
        return SiteProcess(
            server,
            app=app,
            server="uvicorn",
            uvicorn={"backlog": 8192},
            workdir=workdir,
            **{**common, "ready": ready},
        )
    threads = plan.sync_polls + SPARE_THREADS
    return SiteProcess(
        "gthread",
        app="bench.sites.wsgi:application",
        gunicorn={
            "worker_class": "gthread",
            "threads": threads,
            "worker_connections": threads + 100,
            "backlog": 8192,
        },
        workdir=workdir,
        **common,  # type: ignore[arg-type]
    )


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop  # the bench side holds thousands of sockets: the lighter loop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def _raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def run_long_polls(plan: Plan) -> tuple[list[CaseResult], dict[str, Throughput]]:
    """Run the case; return its rows and the two send_message rates."""
    _raise_open_files(2 * plan.asgi_polls + 1024)  # the servers inherit it
    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="berrymq-long-polls-") as tmp:
        workdir = Path(tmp)
        sync_site, asgi_site = (
            _site("gunicorn", workdir, key, plan),
            _site("uvicorn", workdir, key, plan),
        )
        with sync_site, asgi_site:
            sync, asgi = (
                Server(sync_site, "sync gunicorn gthread", key),
                Server(asgi_site, "ASGI uvicorn", key),
            )
            rates = _rates([sync, asgi], plan)
            sync_run = _run(hold_and_wake_gets(sync, plan.sync_polls))
            sync_site.stop(graceful=False)  # its threads go before the ASGI polls come
            asgi_run = _run(hold_and_wake_gets(asgi, plan.asgi_polls))
        # The floor, alone on the machine in its turn: the same server, a bare app.
        with _site("bare", workdir, key, plan) as bare_site:
            floor = _run(hold_and_wake_bare(Server(bare_site, "bare ASGI", key), plan.asgi_polls))
    return _rows(plan, sync_run, asgi_run, floor, rates), rates


def _rates(servers: list[Server], plan: Plan) -> dict[str, Throughput]:
    """Measure each load on each server, rounds interleaved; return the rates by label."""
    runs: dict[str, list[tuple[float, int, int, list[float]]]] = {}
    cpu: dict[str, list[float]] = {}
    by_server = {s.label: loads(s.call("connect_oneway", [3600])) for s in servers}
    for server in servers:  # warm up
        for load in by_server[server.label]:
            _run(send_rate(server, load, Plan(0, 0, 0.5, 1, plan.connections)))
    for number in range(plan.rounds):
        for server in servers if number % 2 == 0 else servers[::-1]:
            for load in by_server[server.label]:
                label = f"{server.label} {load.name}"
                before = server.cpu_seconds()
                run = _run(send_rate(server, load, plan))
                cpu.setdefault(label, []).append(
                    1e6 * (server.cpu_seconds() - before) / max(run[1], 1)
                )
                runs.setdefault(label, []).append(run)
    result: dict[str, Throughput] = {}
    for label, rounds in runs.items():
        median_run = sorted(rounds, key=lambda r: r[0])[(len(rounds) - 1) // 2]
        latencies = sorted(median_run[3]) or [0.0]
        result[label] = Throughput(
            label=label,
            per_request=1 if label.endswith("send_message") else 0,
            rounds_rps=tuple(r[0] for r in rounds),
            requests=sum(r[1] for r in rounds),
            errors=sum(r[2] for r in rounds),
            latency_p50_us=1e6 * statistics.median(latencies),
            latency_p99_us=1e6 * latencies[int(0.99 * (len(latencies) - 1))],
            cpu_us_per_request=min(cpu[label]) or None,
        )
    return result


def _kb_ratio(run: PollRun, sync: PollRun) -> float:
    return run.kb_per_poll / sync.kb_per_poll if sync.kb_per_poll > 0 else float("inf")


def _rows(
    plan: Plan, sync: PollRun, asgi: PollRun, floor: PollRun, rates: dict[str, Throughput]
) -> list[CaseResult]:
    runs = {"asgi": asgi, "sync": sync, "bare_uvicorn": floor}
    details: dict[str, Any] = {
        name: {**run.__dict__, "latencies_s": None, "kb_per_poll": run.kb_per_poll}
        for name, run in runs.items()
    }
    details["wake_cpu_us_per_poll"] = {name: run.wake_cpu_us for name, run in runs.items()}
    details["sync_threads"] = plan.sync_polls + SPARE_THREADS
    ratio = _kb_ratio(asgi, sync)
    return [
        CaseResult(
            key="long_polls_held",
            title=f"long polls held, ASGI (sync: {sync.held} on threads)",
            unit="polls",
            ours=asgi.held,
            target=5_000,
            higher_is_better=True,
            details=details,
        ),
        CaseResult(
            key="long_polls_wake_p99",
            title=f"wake p99 ms, ASGI (sync: {sync.quantile_ms(0.99):.0f} ms)",
            unit="ms",
            ours=asgi.quantile_ms(0.99),
            target=1_000,
        ),
        CaseResult(
            key="long_polls_wake_median",
            title=f"wake median ms, ASGI (sync: {sync.quantile_ms(0.5):.0f} ms)",
            unit="ms",
            ours=asgi.quantile_ms(0.5),
            target=250,
        ),
        CaseResult(
            key="long_polls_rss",
            title=f"RSS/poll ASGI / sync ({asgi.kb_per_poll:.1f} / {sync.kb_per_poll:.1f} KB)",
            unit="x",
            ours=ratio,
            target=0.25,
        ),
        CaseResult(
            key="long_polls_rss_floor",
            title=(
                f"RSS/poll bare ASGI app on uvicorn / sync, the floor ({floor.kb_per_poll:.1f} KB,"
                f" wake median {floor.quantile_ms(0.5):.0f} ms)"
            ),
            unit="x",
            ours=_kb_ratio(floor, sync),
            target=None,
        ),
        CaseResult(
            key="long_polls_wake_cpu",
            title=f"wake CPU µs/poll ASGI / sync ({asgi.wake_cpu_us:.0f} / {sync.wake_cpu_us:.0f})",
            unit="x",
            ours=asgi.wake_cpu_us / sync.wake_cpu_us if sync.wake_cpu_us else float("inf"),
            target=None,
        ),
        throughput_pair(
            "long_polls_send_message",
            "send_message ASGI uvicorn vs sync gthread",
            rates["ASGI uvicorn send_message"],
            rates["sync gunicorn gthread send_message"],
            target=0.9,
        ),
        throughput_pair(
            "long_polls_plain_view",
            "plain Django view ASGI vs sync (Django's floor)",
            rates["ASGI uvicorn plain Django view"],
            rates["sync gunicorn gthread plain Django view"],
            target=None,
        ),
    ]


if __name__ == "__main__":  # pragma: no cover - a quick look by hand
    print(run_long_polls(QUICK if os.environ.get("QUICK") else FULL))
