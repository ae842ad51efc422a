"""The durable outbox on PostgreSQL, side by side with the physical floor of a durable write.

(a) floor: the same rows inserted with one multi-row INSERT per transaction of
    PER messages, then deleted in batches of BATCH, on one connection:
    what writing and clearing a durable row costs at least here.
(b) ours: site A (gunicorn, outbox on PostgreSQL) runs ``twitter_on_commit``
    in transactions of PER messages inside ``berrymq_django.outbox.atomic()``;
    its relay sends them to site B, whose follower counts them (once, in
    order). The rate is messages / (last received at B - first sent at A).
(c) cost: on site A0 (same database, its own outbox off, no relay), the
    time per ``twitter_on_commit`` in transactions of PER messages that each
    write a business row too, with an outbox writer installed and without,
    in interleaved rounds (``POST /cost/``): what the outbox adds in the
    caller's transaction, its one INSERT at the block's end and the larger
    commit included.

Targets (issue 12): (b) >= 10,000 msg/s, (b) >= 0.5 x (a), (c) <= 50 µs.
"""

from __future__ import annotations

import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peer_site.process import PeerSite
from bench.report import CaseResult
from bench.timing import Timing

__all__ = ["FULL", "QUICK", "OutboxPlan", "run_outbox", "unavailable"]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
RATE_TARGET = 10_000.0
FLOOR_RATIO_TARGET = 0.5
COST_TARGET_US = 50.0
PER = 100
BATCH = 500


@dataclass(frozen=True)
class OutboxPlan:
    messages: int  # per round
    rounds: int


FULL = OutboxPlan(messages=50_000, rounds=3)
QUICK = OutboxPlan(messages=3_000, rounds=1)


def unavailable() -> str | None:
    """Return why the case cannot run here (no psycopg, no PostgreSQL), or None."""
    try:
        import psycopg

        psycopg.connect(**PG, connect_timeout=3).close()
    except Exception as exc:
        return f"no PostgreSQL at {PG['host']}:{PG['port']} ({type(exc).__name__}: {exc})"
    return None


def _admin() -> Any:
    import psycopg

    return psycopg.connect(**PG, autocommit=True)


def _floor_ns(dbname: str, n: int) -> float:
    """Insert n outbox-like rows (one INSERT per PER) and delete them (BATCH at a time)."""
    import psycopg

    payload = json.dumps(
        {
            "id": "bench:peer",
            "uid": uuid.uuid4().hex,
            "origin": "site-a",
            "timestamp": time.time(),
            "args": ["floor-run", 12345, time.time()],
        }
    )
    row = "(%s, %s, %s, %s, %s, 0, '')"
    head = (
        "INSERT INTO bench_floor (destination, identifier, uid, payload, created, state, error) "
        "VALUES "
    )
    with psycopg.connect(**{**PG, "dbname": dbname}) as conn:
        started = time.perf_counter_ns()
        for first in range(0, n, PER):
            count = min(PER, n - first)
            params: list[Any] = []
            for _ in range(count):
                params += ["peer:b", "bench:peer", uuid.uuid4().hex, payload, time.time()]
            conn.execute(head + ", ".join([row] * count), params)
            conn.commit()
        while True:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM bench_floor WHERE state = 0 AND destination = 'peer:b' "
                    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                    [BATCH],
                ).fetchall()
            ]
            if not ids:
                conn.commit()
                break
            conn.execute("DELETE FROM bench_floor WHERE id = ANY(%s)", [ids])
            conn.commit()
        return (time.perf_counter_ns() - started) / n


def _migrate(site: PeerSite) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=Path(__file__).resolve().parents[1],
        env=site.site.environ(),
        check=True,
        timeout=300,
    )


def run_outbox(plan: OutboxPlan) -> tuple[list[CaseResult], dict[str, Timing]]:
    """Start B, A (outbox on) and A0 (outbox off) on a fresh database; measure; drop it."""
    dbname = f"berrymq_bench_{uuid.uuid4().hex[:10]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    key, key0 = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    database = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": dbname,
            "USER": PG["user"],
            "HOST": PG["host"],
            "PORT": str(PG["port"]),
        }
    }
    try:
        with tempfile.TemporaryDirectory(prefix="berrymq-bench-outbox-") as tmp:
            workdir = Path(tmp)
            b = PeerSite("site-b", workdir, keys={"site-a": key, "site-a0": key0}, peers={})

            def sender(name: str, outbox: bool) -> PeerSite:
                api_key = key if outbox else key0
                peers = {"site-b": {"URL": b.rpc_url, "API_KEY": api_key, "STYLE": "oneway"}}
                extra = {"OUTBOX": {"ENABLED": outbox, "BATCH": BATCH}}
                env = {
                    "BERRYMQ_BENCH_DATABASES": json.dumps(database),
                    "BERRYMQ_BENCH_EXTRA": json.dumps(extra),
                }
                return PeerSite(name, workdir, keys={}, peers=peers, receive=False, env=env)

            a, a0 = sender("site-a", True), sender("site-a0", False)
            _migrate(a)
            import psycopg

            with psycopg.connect(**{**PG, "dbname": dbname}, autocommit=True) as conn:
                conn.execute("CREATE TABLE bench_floor (LIKE berrymq_outbox INCLUDING ALL)")
                conn.execute(
                    "CREATE TABLE bench_business (id bigserial PRIMARY KEY, run text, n int)"
                )
            try:
                for site in (b, a, a0):
                    site.start()
                figures = _measure(plan, dbname, a, a0, b)
            except Exception as exc:
                exc.add_note(f"site A log:\n{a.log()}\nsite B log:\n{b.log()}")
                raise
            finally:
                for site in (a, a0, b):
                    site.close()
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return _rows(plan, figures)


def _measure(
    plan: OutboxPlan, dbname: str, a: PeerSite, a0: PeerSite, b: PeerSite
) -> dict[str, Any]:
    n = plan.messages
    ours_ns: list[float] = []
    floor_ns: list[float] = []
    for round_ in range(plan.rounds + 1):  # round 0 warms the sites, the pools and the cache
        run = f"outbox-{secrets.token_hex(3)}"
        a.send(run, n, per=PER, business=True)
        stats = b.wait_for(run, n, timeout=120 + n / 1_000)
        if stats["count"] != n or stats["anomalies"]:
            raise AssertionError(
                f"outbox run: B got {stats['count']} of {n}, {stats['anomalies']} out of turn"
            )
        seconds = stats["last_received"] - stats["first_sent"]
        floor = _floor_ns(dbname, n)
        if round_ == 0:
            continue
        ours_ns.append(seconds * 1e9 / n)
        floor_ns.append(floor)
    answer = a0.http.post("/cost/", json={"n": n, "per": PER, "rounds": plan.rounds}, timeout=600)
    answer.raise_for_status()
    cost = answer.json()
    return {"ours": ours_ns, "floor": floor_ns, "loop_us": cost["on"], "plain_us": cost["off"]}


def _rows(plan: OutboxPlan, figures: dict[str, Any]) -> tuple[list[CaseResult], dict[str, Timing]]:
    ours = Timing(
        "outbox: twitter_on_commit -> B's follower", plan.messages, tuple(figures["ours"])
    )
    floor = Timing("raw INSERT + DELETE (PostgreSQL)", plan.messages, tuple(figures["floor"]))
    detail = (
        f"{plan.rounds} round(s) of {plan.messages:,} messages in transactions of {PER}; "
        f"relay BATCH {BATCH}; sites: gunicorn, 1 gthread worker each, on 127.0.0.1"
    )
    vs_floor = CaseResult(
        key="outbox_floor",
        title="outbox end to end / raw INSERT+DELETE",
        unit="msg/s",
        ours=1e6 / ours.best_us,
        ours_median=1e6 / ours.median_us,
        anchor=1e6 / floor.best_us,
        anchor_median=1e6 / floor.median_us,
        anchor_label=floor.label,
        target=FLOOR_RATIO_TARGET,
        higher_is_better=True,
        details={"run": detail},
    )
    rate = CaseResult(
        key="outbox_rate",
        title="outbox: durable msg/s to a peer's follower",
        unit="msg/s",
        ours=1e6 / ours.best_us,
        ours_median=1e6 / ours.median_us,
        target=RATE_TARGET,
        higher_is_better=True,
        details={"run": detail},
    )
    on, off = figures["loop_us"], figures["plain_us"]
    best = min(on) - min(off)
    median = statistics.median(on) - statistics.median(off)
    cost = CaseResult(
        key="outbox_cost",
        title="outbox: µs added per twitter_on_commit",
        unit="µs/msg",
        ours=max(0.001, best),  # a figure must be positive: noise may make it 0 or less
        ours_median=max(0.001, median),
        target=COST_TARGET_US,
        details={
            "loop": f"twitter_on_commit {min(figures['loop_us']):.1f} µs/msg with the outbox, "
            f"{min(figures['plain_us']):.1f} without (best rounds; transactions of {PER} "
            "messages and one business row, on PostgreSQL)"
        },
    )
    return [vs_floor, rate, cost], {ours.label: ours, floor.label: floor}
