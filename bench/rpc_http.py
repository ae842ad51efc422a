"""HTTP throughput of berryMQ's JSON-RPC endpoint against django-modern-rpc.

Case ``rpc``: the bench site (``bench/sites``) runs under gunicorn with one
sync worker on a free loopback port, and wrk loads it from another process,
POSTing each contender's JSON body from a generated Lua script. Contenders,
interleaved round by round so drift in machine load lands on all of them:

=================================  ==========================================
plain JsonResponse, DRF APIView    reference points: Django's floor, DRF's
modern-rpc / berrymq send_message  one message per request
modern-rpc batch / send_messages   100 messages per request, each delivered
                                   to the site's local follower
=================================  ==========================================

Targets, on best rounds: berrymq ``send_message`` >= 1.0x modern-rpc's req/s;
berrymq ``send_messages`` with 100 messages >= 1.0x the messages/s of
modern-rpc's JSON-RPC batch of 100 ``send_message`` calls.

Before timing, each contender is called once and the follower's count
(``GET stats/``) must grow by exactly the messages sent. After timing, it must
have grown by at least the messages of every request wrk saw answered, and by
no more than the requests that could have been in flight besides.

Requests per second move with whatever else the machine runs; the rows "per
worker CPU-s" divide by the worker's own CPU time (Linux /proc) instead, and
stay steady on a busy machine. They are context, not targets.

Needs wrk (``apt-get install wrk``); without it the case is skipped.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench.report import CaseResult, throughput_pair
from bench.sites import IDENTIFIER
from bench.timing import Throughput
from tests.support import SiteProcess

BATCH = 100
ARGS: list[Any] = [1, "two"]
KWARGS: dict[str, Any] = {"three": 3.0}
TOKEN_TTL = 3600


@dataclass(frozen=True)
class LoadPlan:
    """How hard and how long wrk loads each contender (durations in whole seconds)."""

    warmup_s: int
    duration_s: int
    rounds: int
    threads: int = 2
    connections: int = 16

    def describe(self) -> str:
        return (
            f"wrk -t{self.threads} -c{self.connections}; {self.rounds} round(s) x "
            f"{self.duration_s} s per contender after a {self.warmup_s} s warmup, interleaved"
        )


FULL = LoadPlan(warmup_s=1, duration_s=2, rounds=5)
QUICK = LoadPlan(warmup_s=1, duration_s=1, rounds=1)


def unavailable() -> str | None:
    """Return why the case cannot run here, or None when it can."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install wrk)"
    if find_spec("berrymq_django.urls") is None:
        return "berrymq_django has no JSON-RPC endpoint yet (berrymq_django/urls.py)"
    return None


# --- the site under load -------------------------------------------------------------------


class BenchSite(SiteProcess):
    """The bench site under gunicorn (one sync worker) on 127.0.0.1, and a tiny client."""

    def __init__(self, workdir: Path, key: str) -> None:
        self.key = key
        super().__init__(
            "gunicorn",
            app="bench.sites.wsgi:application",
            settings="bench.sites.settings",
            ready="/stats/",
            env={"BERRYMQ_BENCH_KEY": key},
            gunicorn={"worker_class": "sync"},
            workdir=workdir,
        )

    def worker_cpu_seconds(self) -> float | None:
        """Return the CPU time (user + system) the worker has used, or None off Linux.

        Unlike requests/s it does not move when other processes take the CPU,
        so it still ranks the contenders on a busy machine.
        """
        if self.pid is None:
            return None
        try:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                # Fields after the parenthesised command: state, ppid, ..., utime (12), stime (13).
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[1]) == self.pid:
                    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None
        return None

    def request(
        self, method: str, path: str, body: bytes | None = None, auth: bool = False
    ) -> tuple[int, bytes]:
        """Send one request on a fresh connection; return the status and body."""
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.key}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def call(self, path: str, body: bytes, auth: bool = False) -> Any:
        """POST body; return the decoded JSON answer, which must come with HTTP 200."""
        status, data = self.request("POST", path, body, auth)
        if status != 200:
            raise AssertionError(f"POST {path} answered HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def received(self) -> int:
        """Return how many messages the site's follower has received so far."""
        status, data = self.request("GET", "/stats/")
        if status != 200:
            raise AssertionError(f"GET /stats/ answered HTTP {status}")
        count: int = json.loads(data)["received"]
        return count


@contextmanager
def serving(workdir: Path, key: str) -> Iterator[BenchSite]:
    """Run the bench site for the duration of the block."""
    with BenchSite(workdir, key) as site:
        yield site


# --- the contenders ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """One HTTP load: a POST of ``body`` to ``path``, carrying ``per_request`` messages."""

    label: str
    path: str
    body: bytes
    per_request: int
    check: Callable[[Any], bool] = field(repr=False)
    auth: bool = False


def _call(method: str, params: list[Any], id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": id}


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _is_plain_ok(answer: Any) -> bool:
    return bool(answer == {"ok": True})


def _is_ok(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("result") == "ok"


def contenders(token: str) -> list[Contender]:
    """Return the six loads; ``token`` is a berryMQ connect_oneway token of the bench key."""
    single = _call("send_message", [token, IDENTIFIER, ARGS, KWARGS])
    batch = [_call("send_message", [token, IDENTIFIER, ARGS, KWARGS], i) for i in range(BATCH)]
    messages = [{"id": IDENTIFIER, "args": ARGS, "kwargs": KWARGS} for _ in range(BATCH)]
    return [
        # The reference views get the same bytes as send_message, and ignore them.
        Contender("plain Django JsonResponse", "/plain/", _dumps(single), 0, _is_plain_ok),
        Contender("plain DRF APIView", "/drf/", _dumps(single), 0, _is_plain_ok),
        Contender("modern-rpc send_message", "/modern-rpc/", _dumps(single), 1, _is_ok),
        Contender("berrymq send_message", "/berrymq/rpc/", _dumps(single), 1, _is_ok, auth=True),
        Contender(
            f"modern-rpc batch of {BATCH} send_message",
            "/modern-rpc/",
            _dumps(batch),
            BATCH,
            lambda answer: (
                isinstance(answer, list) and len(answer) == BATCH and all(map(_is_ok, answer))
            ),
        ),
        Contender(
            f"berrymq send_messages({BATCH})",
            "/berrymq/rpc/",
            _dumps(_call("send_messages", [token, messages])),
            BATCH,
            lambda answer: (
                isinstance(answer, dict)
                and answer.get("result") == {"accepted": BATCH, "duplicates": 0}
            ),
            auth=True,
        ),
    ]


def connect(site: BenchSite) -> str:
    """Open a send-only connection on our endpoint and return its token."""
    answer = site.call("/berrymq/rpc/", _dumps(_call("connect_oneway", [TOKEN_TTL])), auth=True)
    token = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        raise AssertionError(f"connect_oneway did not return a token: {answer!r}")
    return token


def check_contenders(site: BenchSite, loads: Sequence[Contender]) -> None:
    """Call each contender once: its answer must be right and its messages delivered."""
    for load in loads:
        before = site.received()
        answer = site.call(load.path, load.body, load.auth)
        if not load.check(answer):
            raise AssertionError(f"{load.label}: unexpected answer {json.dumps(answer)[:300]}")
        delivered = site.received() - before
        if delivered != load.per_request:
            raise AssertionError(
                f"{load.label}: the follower received {delivered} message(s), "
                f"expected {load.per_request}"
            )


# --- the load generator --------------------------------------------------------------------

# wrk calls done() once, after the run, with its totals; one JSON line is easy to parse.
_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    """Quote text as a Lua long string, whose level its content cannot close."""
    level = 0
    # The first closing bracket must be ours, also when text ends with "]".
    while (text + f"]{'=' * level}]").find(f"]{'=' * level}]") != len(text):
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def write_script(load: Contender, key: str, directory: Path) -> Path:
    """Write the wrk Lua script that POSTs ``load``'s body; return its path."""
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {_lua_string(load.body.decode())}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if load.auth:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {key}"')
    path = directory / f"{secrets.token_hex(4)}.lua"
    path.write_text("\n".join(lines) + "\n" + _DONE)
    return path


@dataclass(frozen=True)
class WrkRun:
    """wrk's totals for one run of one contender, and the worker's CPU time meanwhile."""

    requests: int
    duration_us: int
    errors: int
    p50_us: float
    p99_us: float
    worker_cpu_s: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6)

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.worker_cpu_s is None or not self.requests:
            return None
        return self.worker_cpu_s * 1e6 / self.requests


def run_wrk(url: str, script: Path, plan: LoadPlan, seconds: int) -> WrkRun:
    """Load url for ``seconds`` with the script; return wrk's totals."""
    cmd = [
        "wrk",
        f"-t{plan.threads}",
        f"-c{plan.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_WRK "):
            totals = json.loads(line.removeprefix("BENCH_WRK "))
            break
    else:
        raise RuntimeError(
            f"wrk exited {proc.returncode} without totals:\n{proc.stdout}{proc.stderr}"
        )
    errors = sum(totals[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkRun(
        totals["requests"], totals["duration_us"], errors, totals["p50_us"], totals["p99_us"]
    )


def load_interleaved(
    site: BenchSite, loads: Sequence[Contender], plan: LoadPlan, workdir: Path
) -> tuple[dict[str, list[WrkRun]], list[tuple[Contender, WrkRun]]]:
    """Warm every contender up, then run ``plan.rounds`` rounds in rotated order.

    Returns the timed runs by label, and every run (warmups included) for the
    delivery check.
    """
    scripts = {load.label: write_script(load, site.key, workdir) for load in loads}
    every: list[tuple[Contender, WrkRun]] = []
    timed: dict[str, list[WrkRun]] = {load.label: [] for load in loads}

    def run(load: Contender, seconds: int) -> WrkRun:
        cpu_before = site.worker_cpu_seconds()
        result = run_wrk(site.base_url + load.path, scripts[load.label], plan, seconds)
        cpu_after = site.worker_cpu_seconds()
        if cpu_before is not None and cpu_after is not None:
            result = replace(result, worker_cpu_s=cpu_after - cpu_before)
        every.append((load, result))
        return result

    for load in loads:
        run(load, plan.warmup_s)
    for round_no in range(plan.rounds):
        shift = round_no % len(loads)
        for load in (*loads[shift:], *loads[:shift]):
            timed[load.label].append(run(load, plan.duration_s))
    return timed, every


def check_delivery(
    delivered: int, runs: Sequence[tuple[Contender, WrkRun]], plan: LoadPlan
) -> tuple[int, int]:
    """Check the follower's count against what wrk saw answered; return the bounds.

    Every answered request's messages must have arrived. A request that was
    being served when wrk stopped (at most one per connection) or whose
    connection failed may have delivered its messages without being counted.
    """
    low = sum(load.per_request * run.requests for load, run in runs)
    high = low + sum(load.per_request * (plan.connections + run.errors) for load, run in runs)
    if not low <= delivered <= high:
        raise AssertionError(
            f"the follower received {delivered:,} messages under load; "
            f"wrk's answered requests imply {low:,} to {high:,}"
        )
    return low, high


def _throughput(load: Contender, runs: Sequence[WrkRun]) -> Throughput:
    median_run = sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]
    cpu = [c for c in (r.cpu_us_per_request for r in runs) if c is not None]
    return Throughput(
        label=load.label,
        per_request=load.per_request,
        rounds_rps=tuple(r.rps for r in runs),
        requests=sum(r.requests for r in runs),
        errors=sum(r.errors for r in runs),
        latency_p50_us=median_run.p50_us,
        latency_p99_us=median_run.p99_us,
        cpu_us_per_request=min(cpu) if cpu else None,
    )


# --- the case ------------------------------------------------------------------------------


def run_rpc(*, plan: LoadPlan) -> tuple[list[CaseResult], dict[str, Throughput]]:
    """Case 5: serve the bench site, check every contender, load them; return the rows."""
    key = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory(prefix="berrymq-bench-") as tmp,
        serving(Path(tmp), key) as site,
    ):
        loads = contenders(connect(site))
        check_contenders(site, loads)
        before = site.received()
        timed, every = load_interleaved(site, loads, plan, Path(tmp))
        delivered = site.received() - before
        low, _ = check_delivery(delivered, every, plan)

    by_label = {load.label: _throughput(load, timed[load.label]) for load in loads}
    plain, drf, mrpc, ours, mrpc_batch, ours_batch = by_label.values()
    errors = {t.label: t.errors for t in by_label.values() if t.errors}
    single = throughput_pair("rpc", "5 send_message over HTTP vs modern-rpc", ours, mrpc, 1.0)
    single.details = {
        "server": "gunicorn, 1 sync worker, 127.0.0.1; bench/sites, no middleware, DEBUG off",
        "load": plan.describe(),
        "anchor": (
            "modern-rpc 2.1 as its docs set it up (stdlib json backend), no auth and "
            "no token check: stricter than an equal-work anchor"
        ),
        "checked": (
            f"each contender answered right once; the follower received {delivered:,} "
            f"messages under load for {low:,} answered"
        ),
    }
    if errors:
        single.details["errors"] = f"wrk socket/status errors {errors}"
    results = [
        single,
        throughput_pair(
            "rpc_batch",
            f"6 send_messages({BATCH}) vs modern-rpc batch",
            ours_batch,
            mrpc_batch,
            1.0,
            per_message=True,
        ),
        throughput_pair("rpc_plain", "  send_message vs plain JsonResponse", ours, plain, None),
        throughput_pair("rpc_drf", "  send_message vs plain DRF APIView", ours, drf, None),
        throughput_pair("rpc_mrpc_plain", "  modern-rpc vs plain JsonResponse", mrpc, plain, None),
    ]
    results += _cpu_rows(ours, mrpc, ours_batch, mrpc_batch)
    return results, by_label


def _cpu_rows(
    ours: Throughput, mrpc: Throughput, ours_batch: Throughput, mrpc_batch: Throughput
) -> list[CaseResult]:
    """Rows comparing what one CPU-second of the worker serves: steady on a busy machine."""
    rows = []
    for key, title, a, b in (
        ("rpc_cpu", "  send_message per worker CPU-s vs modern-rpc", ours, mrpc),
        ("rpc_batch_cpu", "  send_messages per worker CPU-s vs batch", ours_batch, mrpc_batch),
    ):
        if a.cpu_us_per_request is None or b.cpu_us_per_request is None:
            continue
        per = a.per_request if a.per_request == b.per_request else 1
        unit = "msg/s" if per > 1 else "req/s"
        rows.append(
            CaseResult(
                key=key,
                title=title,
                unit=unit,
                ours=per * 1e6 / a.cpu_us_per_request,
                anchor=per * 1e6 / b.cpu_us_per_request,
                anchor_label=b.label,
                target=None,
                higher_is_better=True,
            )
        )
    return rows
