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

Case ``mesh``: three sites in a full interconnect mesh (A names B and C, B
names C; the call-backs close the mesh). The driver injects N messages at
A through ``send_messages`` in batches of 500, four batches in flight (four
runs); every site's follower (A's too) checks each run's indexes come once
and in order. The figure is N /
(the last receive at the slowest site - the first message's send time):
the rate at which messages reach every site, end to end; target >= 40,000
msg/s with 0 lost and 0 duplicated. A site that relayed copies the others
already have would pay for them here.
"""

from __future__ import annotations

import json
import secrets
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, sleep
from typing import Any

from bench.peer_site import IDENTIFIER
from bench.peer_site.process import PeerSite
from bench.report import CaseResult

RATE_TARGET = 50_000.0
LATENCY_TARGET_MS = 10.0
MESH_TARGET = 40_000.0
MESH_BATCH = 500
MESH_STREAMS = 4  # batches the driver keeps in flight at A, each an ordered run


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


@dataclass(frozen=True)
class MeshPlan:
    """How much the mesh case sends."""

    messages: int  # per round
    rounds: int


MESH_FULL = MeshPlan(messages=100_000, rounds=3)
MESH_QUICK = MeshPlan(messages=10_000, rounds=1)


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


# -- the mesh case ---------------------------------------------------------------------


def inject(a: PeerSite, key: str, token: str, run: str, n: int) -> None:
    """Send n messages (run, i, time.time()) to A through send_messages, 500 a call."""
    for start in range(0, n, MESH_BATCH):
        now = time.time()
        batch = [
            {"id": IDENTIFIER, "args": [run, i, now]}
            for i in range(start, min(n, start + MESH_BATCH))
        ]
        a.call(key, "send_messages", token, batch)


def measure_mesh(sites: list[PeerSite], key: str, token: str, n: int) -> dict[str, Any]:
    """Inject n messages at the first site; return how they reached every site.

    The driver keeps MESH_STREAMS batches in flight, one per stream: each
    stream is its own run, whose order every site's follower checks.
    """
    runs = [_run_id("mesh") for _ in range(MESH_STREAMS)]
    share = n // MESH_STREAMS
    streams = [
        threading.Thread(target=inject, args=(sites[0], key, token, run, share)) for run in runs
    ]
    for stream in streams:
        stream.start()
    for stream in streams:
        stream.join()
    for site in sites:
        for run in runs:
            site.wait_for(run, share, timeout=60 + n / 2_000)
    sleep(0.5)  # anything more (a duplicate) would come now
    stats = {site.name: [site.stats(run) for run in runs] for site in sites}
    first = min(s["first_sent"] for by_run in stats.values() for s in by_run)
    rates = {
        name: n / (max(s["last_received"] for s in by_run) - first)
        if all(s["count"] for s in by_run)
        else 0.0
        for name, by_run in stats.items()
    }
    counts = [s["count"] for by_run in stats.values() for s in by_run]
    lost = sum(max(0, share - count) for count in counts)
    extra = sum(max(0, count - share) for count in counts)
    anomalies = sum(s["anomalies"] for by_run in stats.values() for s in by_run)
    ok = lost == 0 and extra == 0 and anomalies == 0
    return {
        "rate": min(rates.values()) if ok else 0.0,
        "rates": rates,
        "lost": lost,
        "duplicated": extra,
        "anomalies": anomalies,
    }


def run_mesh(*, plan: MeshPlan) -> list[CaseResult]:
    """Start a three-site mesh, inject at A, return the end-to-end row."""
    keys = {name: secrets.token_urlsafe(32) for name in ("ab", "ac", "bc", "driver")}
    buffer = max(100_000, 2 * plan.messages)
    with tempfile.TemporaryDirectory(prefix="berrymq-bench-mesh-") as tmp:
        workdir = Path(tmp)
        driver = {"driver": keys["driver"]}
        c = PeerSite(
            "mesh-c", workdir, keys={"mesh-a": keys["ac"], "mesh-b": keys["bc"], **driver}, peers={}
        )
        b = PeerSite(
            "mesh-b",
            workdir,
            keys={"mesh-a": keys["ab"], **driver},
            peers={"c": {"URL": c.rpc_url, "API_KEY": keys["bc"], "BUFFER_SIZE": buffer}},
        )
        a = PeerSite(
            "mesh-a",
            workdir,
            keys=driver,
            peers={
                "b": {"URL": b.rpc_url, "API_KEY": keys["ab"], "BUFFER_SIZE": buffer},
                "c": {"URL": c.rpc_url, "API_KEY": keys["ac"], "BUFFER_SIZE": buffer},
            },
        )
        sites = [a, b, c]
        try:
            for site in reversed(sites):
                site.start()
            deadline = monotonic() + 30
            while not all(site.links_connected(keys["driver"]) for site in sites):
                if monotonic() > deadline:
                    raise RuntimeError("the mesh did not connect within 30 s")
                sleep(0.05)
            token = a.call(keys["driver"], "connect_oneway", 3600)
            measure_mesh(sites, keys["driver"], token, min(plan.messages, 10_000))  # warm up
            rounds = [
                measure_mesh(sites, keys["driver"], token, plan.messages)
                for _ in range(plan.rounds)
            ]
            links = {site.name: site.peer_status(keys["driver"])["peers"] for site in sites}
        except Exception as exc:
            exc.add_note("\n".join(f"{site.name} log:\n{site.log()}" for site in sites))
            raise
        finally:
            for site in sites:
                site.close()
    return [_mesh_row(plan, rounds, links)]


def _mesh_row(
    plan: MeshPlan, rounds: list[dict[str, Any]], links: dict[str, dict[str, Any]]
) -> CaseResult:
    best = max(rounds, key=lambda r: r["rate"])
    sent = {
        site: {name.split("@")[0]: figures["sent"] for name, figures in peers.items()}
        for site, peers in links.items()
    }
    return CaseResult(
        key="peering_mesh",
        title="peering mesh: send_messages at A to all 3 sites",
        unit="msg/s",
        ours=best["rate"],
        ours_median=statistics.median(r["rate"] for r in rounds),
        target=MESH_TARGET,
        higher_is_better=True,
        details={
            "sites": "three gunicorn sites (1 gthread worker, 8 threads) on 127.0.0.1 in a full "
            "interconnect mesh, in-memory backend",
            "rounds": f"{plan.rounds} round(s) of {plan.messages:,} messages injected at A, "
            f"{MESH_BATCH} per send_messages call, {MESH_STREAMS} calls in flight "
            "(one ordered run each)",
            "best round, per site": ", ".join(
                f"{name} {rate:,.0f} msg/s" for name, rate in best["rates"].items()
            ),
            "lost / duplicated / out of turn": "; ".join(
                f"{r['lost']} / {r['duplicated']} / {r['anomalies']}" for r in rounds
            ),
            "messages each site's links sent (all rounds)": json.dumps(sent),
        },
    )
