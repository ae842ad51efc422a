"""Site-to-site peering: twitter() on site A to a follower on site B, over loopback HTTP.

Case ``peering``: two real sites (``bench/peer_site`` under gunicorn, one
gthread worker each, as the in-memory backend wants), A interconnected with
B. Site A twitters from inside its own process (``POST /send/``), so what is
timed is the whole path: A's twitter(), its peer link's buffer, batching and
HTTP, B's endpoint and B's follower. B's follower checks every run's indexes
come once and in order (``bench/peer_site/receivers.py``). Three figures:

=============  ==============================================================
throughput     N messages as fast as A twitters them: N / (B's last receive -
               A's first twitter), every message received once, in order;
               target >= 50,000 msg/s
latency        one message every 20 ms: median of (B's receive time - A's
               twitter time), one machine, one clock; target <= 10 ms
outage         a 20,000-message stream; B is stopped (SIGTERM) in the middle,
               for 5 s, then started again on the same port with no memory of
               A's token: all 20,000 must arrive exactly once and in order
=============  ==============================================================
"""

from __future__ import annotations

import json
import secrets
import statistics
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, sleep
from typing import Any

from bench.report import CaseResult
from tests.support import NotYet, SiteProcess, eventually, free_port

RATE_TARGET = 50_000.0
LATENCY_TARGET_MS = 10.0


@dataclass(frozen=True)
class PeerPlan:
    """How much each figure sends."""

    messages: int  # per throughput round
    rounds: int
    latency_messages: int  # one every 20 ms
    outage_messages: int
    outage_seconds: float
    outage_rate: float  # messages per second in the outage stream


FULL = PeerPlan(
    messages=200_000,
    rounds=3,
    latency_messages=250,
    outage_messages=20_000,
    outage_seconds=5.0,
    outage_rate=2_500.0,
)
QUICK = PeerPlan(
    messages=20_000,
    rounds=1,
    latency_messages=50,
    outage_messages=2_000,
    outage_seconds=1.0,
    outage_rate=1_000.0,
)


class PeerSite:
    """One bench site process under gunicorn on a loopback port, and what it can be asked."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        *,
        keys: dict[str, str],
        peers: dict[str, Any],
        receive: bool = True,
    ) -> None:
        self.name = name
        self.state_path = workdir / f"{name}-state.json"
        port = free_port()
        self.site = SiteProcess(
            name,
            app="bench.peer_site.wsgi:application",
            settings="bench.peer_site.settings",
            ready="/ping/",
            port=port,
            env={
                "BERRYMQ_BENCH_NODE": name,
                "BERRYMQ_BENCH_SELF_URL": f"http://127.0.0.1:{port}/berrymq/rpc/",
                "BERRYMQ_BENCH_KEYS": json.dumps(keys),
                "BERRYMQ_BENCH_PEERS": json.dumps(peers),
                "BERRYMQ_BENCH_STATE": str(self.state_path),
                "BERRYMQ_BENCH_RECEIVE": "1" if receive else "0",
            },
            gunicorn={"worker_class": "gthread", "threads": 8, "graceful_timeout": 5},
            workdir=workdir,
        )
        self.http = self.site.http

    @property
    def rpc_url(self) -> str:
        return f"{self.site.base_url}/berrymq/rpc/"

    def start(self, timeout: float = 30.0) -> None:
        self.site.start(timeout)

    def stop(self) -> dict[str, Any]:
        """Stop gracefully (SIGTERM); return the runs its follower saw, as it wrote them."""
        self.site.stop(timeout=20)
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        self.state_path.unlink()
        return state

    def close(self) -> None:
        self.site.close()

    def log(self, lines: int = 30) -> str:
        return self.site.log(lines)

    def send(self, run: str, n: int, rate: float = 0.0) -> float:
        """Make this site twitter n messages of run; return the seconds its loop took."""
        answer = self.http.post("/send/", json={"run": run, "n": n, "rate": rate}, timeout=600)
        answer.raise_for_status()
        seconds: float = answer.json()["seconds"]
        return seconds

    def stats(self, run: str, latency: bool = False) -> dict[str, Any]:
        params = {"run": run, **({"latency": "1"} if latency else {})}
        answer = self.http.get("/stats/", params=params)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    def wait_for(self, run: str, count: int, timeout: float) -> dict[str, Any]:
        """Poll stats until run reached count (or timeout); return the last stats."""
        try:
            return eventually(
                lambda: self.stats(run),
                until=lambda stats: stats["count"] >= count,
                timeout=timeout,
            )
        except NotYet as short:  # the figures say how far it got
            last: dict[str, Any] = short.last
            return last

    def peer_status(self, key: str) -> dict[str, Any]:
        """Return this site's JSON-RPC status (its peers' counters)."""
        body = {"jsonrpc": "2.0", "method": "status", "params": [], "id": 1}
        answer = self.http.post(self.rpc_url, json=body, headers={"Authorization": f"Bearer {key}"})
        result: dict[str, Any] = answer.json()["result"]
        return result


def _run_id(label: str) -> str:
    return f"{label}-{secrets.token_hex(3)}"


def measure_throughput(a: PeerSite, b: PeerSite, n: int) -> dict[str, Any]:
    """Twitter n messages on A as fast as it goes; return the rate B received them at."""
    run = _run_id("rate")
    twitter_s = a.send(run, n)
    stats = b.wait_for(run, n, timeout=60 + n / 5_000)
    ok = stats["count"] == n and stats["anomalies"] == 0
    seconds = stats["last_received"] - stats["first_sent"]
    return {
        "rate": n / seconds if ok and seconds > 0 else 0.0,
        "twitter_rate": n / twitter_s,
        "received": stats["count"],
        "anomalies": stats["anomalies"],
    }


def measure_latency(a: PeerSite, b: PeerSite, n: int) -> dict[str, Any]:
    """Twitter one message every 20 ms on A; return B's latency figures in ms."""
    run = _run_id("latency")
    a.send(run, n, rate=50.0)
    b.wait_for(run, n, timeout=10)
    stats = b.stats(run, latency=True)
    if stats["count"] != n:
        raise AssertionError(f"latency run: B received {stats['count']} of {n} messages")
    return {"p50_ms": stats["latency_p50"] * 1000, "p99_ms": stats["latency_p99"] * 1000}


def measure_outage(a: PeerSite, b: PeerSite, plan: PeerPlan) -> dict[str, Any]:
    """Stop B for a while in the middle of a stream; return how the stream came through."""
    run = _run_id("outage")
    n = plan.outage_messages
    stream = threading.Thread(target=a.send, args=(run, n, plan.outage_rate), daemon=True)
    stream.start()
    # Let a third of the stream through, then stop B in the middle of it.
    b.wait_for(run, n // 3, timeout=30)
    down_at = monotonic()
    before = b.stop().get(run, {})
    sleep(plan.outage_seconds)
    b.start()
    back_at = monotonic()
    stream.join(timeout=n / plan.outage_rate + 60)
    after = b.wait_for(run, n - before.get("count", 0), timeout=60)
    recovered_at = monotonic()
    halves = [before, after]
    delivered = sum(h.get("count", 0) for h in halves)
    # Exactly once, in order: the first half starts at 0, the second continues where
    # it stopped, neither saw an index out of turn, and together they hold n.
    in_order = (
        before.get("first_index") == 0
        and after.get("first_index") == before.get("expected")
        and after.get("expected") == n
        and all(h.get("anomalies", 1) == 0 for h in halves)
    )
    return {
        "messages": n,
        "delivered": delivered,
        "before_stop": before.get("count", 0),
        "in_order": in_order,
        "exactly_once": in_order and delivered == n,
        "down_s": back_at - down_at,
        "recovery_s": recovered_at - back_at,
    }


def run_peering(*, plan: PeerPlan) -> list[CaseResult]:
    """Start sites A and B, measure the three figures, return their rows."""
    key_a, key_b = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="berrymq-bench-peering-") as tmp:
        workdir = Path(tmp)
        b = PeerSite("site-b", workdir, keys={"site-a": key_b}, peers={})
        a = PeerSite(
            "site-a",
            workdir,
            keys={"site-b": key_a},
            receive=False,
            peers={
                "site-b": {
                    "URL": b.rpc_url,
                    "API_KEY": key_b,
                    "STYLE": "interconnect",
                    # A twitters faster than B takes messages in: the whole burst
                    # waits in A's buffer, which must hold it (the default is 100,000).
                    "BUFFER_SIZE": max(100_000, 2 * plan.messages),
                }
            },
        )
        try:
            b.start()
            a.start()
            measure_throughput(a, b, min(plan.messages, 10_000))  # warm up both sites
            rounds = [measure_throughput(a, b, plan.messages) for _ in range(plan.rounds)]
            latency = measure_latency(a, b, plan.latency_messages)
            outage = measure_outage(a, b, plan)
            link = a.peer_status(key_a)["peers"]["site-b"]
        except Exception as exc:
            exc.add_note(f"site A log:\n{a.log()}\nsite B log:\n{b.log()}")
            raise
        finally:
            a.close()
            b.close()
    return _rows(plan, rounds, latency, outage, link)


def _rows(
    plan: PeerPlan,
    rounds: list[dict[str, Any]],
    latency: dict[str, Any],
    outage: dict[str, Any],
    link: dict[str, Any],
) -> list[CaseResult]:
    rates = [r["rate"] for r in rounds]
    lost = [
        f"{r['received']:,}/{plan.messages:,} with {r['anomalies']} out of turn"
        for r in rounds
        if r["rate"] == 0.0
    ]
    throughput = CaseResult(
        key="peering_rate",
        title="peering: A's twitter() to B's follower",
        unit="msg/s",
        ours=max(rates),
        ours_median=statistics.median(rates),
        target=RATE_TARGET,
        higher_is_better=True,
        details={
            "sites": "two gunicorn sites (1 gthread worker, 8 threads) on 127.0.0.1, "
            f"A interconnected with B, in-memory backend; A's BUFFER_SIZE "
            f"{max(100_000, 2 * plan.messages):,}",
            "throughput": f"{plan.rounds} round(s) of {plan.messages:,} messages; "
            f"A's twitter() loop alone ran at "
            f"{max(r['twitter_rate'] for r in rounds):,.0f} msg/s"
            + (f"; INCOMPLETE: {', '.join(lost)}" if lost else "; every message once, in order"),
            "outage": (
                f"B down {outage['down_s']:.1f} s after {outage['before_stop']:,} messages; "
                f"{outage['delivered']:,}/{outage['messages']:,} delivered, "
                f"in order: {outage['in_order']}, all in {outage['recovery_s']:.1f} s "
                "after B was back"
            ),
            "link": (
                f"A's link to B: sent {link['sent']:,}, retried {link['retried']}, "
                f"dropped {link['dropped']}, last error {link['last_error']!r}"
            ),
        },
    )
    median_latency = CaseResult(
        key="peering_latency",
        title="peering: median latency A to B, light load",
        unit="ms",
        ours=latency["p50_ms"],
        target=LATENCY_TARGET_MS,
        details={
            "messages": plan.latency_messages,
            "p50_ms": round(latency["p50_ms"], 2),
            "p99_ms": round(latency["p99_ms"], 2),
        },
    )
    once = CaseResult(
        key="peering_outage",
        title=f"peering: B down {plan.outage_seconds:g} s, msgs once in order",
        unit="msgs",
        # Messages delivered exactly once and in order: all n, or fewer than n.
        ours=float(
            outage["delivered"]
            if outage["exactly_once"]
            else min(outage["delivered"], outage["messages"] - 1)
        ),
        target=float(outage["messages"]),
        higher_is_better=True,
        details={
            "delivered once, in order": outage["exactly_once"],
            "recovery_s": round(outage["recovery_s"], 2),
        },
    )
    return [throughput, median_latency, once]
