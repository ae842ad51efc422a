"""Results of the benchmark cases, rendered as a text table or as JSON."""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.timing import Throughput, Timing

RATES = ("req/s", "msg/s")


@dataclass
class CaseResult:
    """One row of the report: our number against an anchor and a target.

    For timing cases ``ours`` and ``anchor`` are best-round µs per op and
    ``ratio = ours / anchor`` must stay at or below ``target``. For throughput
    cases (``unit`` "req/s" or "msg/s", ``higher_is_better``) they are
    best-round rates and the ratio must reach at least ``target``. For the
    memory case ``unit`` is ``"B/msg"``, there is no anchor, and ``ours``
    itself must stay at or below ``target``. A row without a target is context
    only.
    """

    key: str
    title: str
    unit: str
    ours: float
    target: float | None
    anchor: float | None = None
    anchor_label: str | None = None
    ours_median: float | None = None
    anchor_median: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if self.anchor is None:
            return None
        return self.ours / self.anchor

    @property
    def median_ratio(self) -> float | None:
        if self.anchor_median is None or self.ours_median is None:
            return None
        return self.ours_median / self.anchor_median

    @property
    def measured(self) -> float:
        """The number compared with the target (the ratio, or the value itself)."""
        ratio = self.ratio
        return self.ours if ratio is None else ratio

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        if self.higher_is_better:
            return self.measured >= self.target
        return self.measured <= self.target

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, median_ratio=self.median_ratio, passed=self.passed)
        return data


def timing_pair(
    key: str, title: str, ours: Timing, anchor: Timing, target: float | None
) -> CaseResult:
    """Build a timing row comparing ``ours`` with ``anchor``."""
    return CaseResult(
        key=key,
        title=title,
        unit="us/op",
        ours=ours.best_us,
        ours_median=ours.median_us,
        anchor=anchor.best_us,
        anchor_median=anchor.median_us,
        anchor_label=anchor.label,
        target=target,
        details={"n": ours.n, "rounds": len(ours.rounds_ns)},
    )


def throughput_pair(
    key: str,
    title: str,
    ours: Throughput,
    anchor: Throughput,
    target: float | None,
    *,
    per_message: bool = False,
) -> CaseResult:
    """Build a rate row comparing ``ours`` with ``anchor``: req/s, or msg/s if ``per_message``."""
    if per_message and not (ours.per_request and anchor.per_request):
        raise ValueError(f"{ours.label!r} or {anchor.label!r} carries no messages")
    ours_per = ours.per_request if per_message else 1
    anchor_per = anchor.per_request if per_message else 1
    ours_best, ours_median = ours.best_rps * ours_per, ours.median_rps * ours_per
    anchor_best, anchor_median = anchor.best_rps * anchor_per, anchor.median_rps * anchor_per
    return CaseResult(
        key=key,
        title=title,
        unit="msg/s" if per_message else "req/s",
        ours=ours_best,
        ours_median=ours_median,
        anchor=anchor_best,
        anchor_median=anchor_median,
        anchor_label=anchor.label,
        target=target,
        higher_is_better=True,
    )


def environment() -> dict[str, str]:
    """Versions that explain the numbers."""
    import django

    try:
        from importlib.metadata import version

        blinker_version = version("blinker")
    except Exception:  # pragma: no cover - blinker is a dev dependency
        blinker_version = "?"
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "django": django.get_version(),
        "blinker": blinker_version,
        "machine": platform.machine(),
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _median(value: float | None) -> str:
    return "" if value is None else f" ({value:,.0f})"


def render_table(
    results: list[CaseResult],
    timings: dict[str, dict[str, Timing]],
    throughputs: dict[str, dict[str, Throughput]] | None = None,
    skipped: dict[str, str] | None = None,
) -> str:
    """Return the human report: the verdict table, then every contender's numbers."""
    env = environment()
    lines = [
        "berrymq_django bench  " + "  ".join(f"{k}={v}" for k, v in env.items()),
        "times are µs per op, rates per second: best round (median round); "
        "ratio = ours / anchor of best rounds",
        "",
    ]
    header = (
        f"{'case':<44} {'ours':>17} {'anchor':>17} {'ratio':>7} {'med.r':>6} "
        f"{'target':>8} {'result':>6}"
    )
    lines += [header, "-" * len(header)]
    for r in results:
        if r.unit == "us/op":
            ours = f"{r.ours:.3f} ({_fmt(r.ours_median)})"
            anchor = f"{_fmt(r.anchor)} ({_fmt(r.anchor_median)})"
            target = "-" if r.target is None else f"<= {r.target:g}x"
        elif r.unit in RATES:
            ours = _rate(r.ours) + _median(r.ours_median)
            anchor = _rate(r.anchor) + _median(r.anchor_median)
            target = "-" if r.target is None else f">= {r.target:g}x"
            if r.target is not None and r.anchor is None:
                target = f">= {r.target:,.0f}"  # an absolute rate, not a ratio
        else:
            ours = f"{r.ours:.1f} {r.unit}"
            anchor = "-"
            direction = ">=" if r.higher_is_better else "<="
            target = "-" if r.target is None else f"{direction} {r.target:g}"
        verdict = {True: "PASS", False: "MISS", None: "info"}[r.passed]
        lines.append(
            f"{r.title:<44} {ours:>17} {anchor:>17} {_fmt(r.ratio, 2):>7} "
            f"{_fmt(r.median_ratio, 2):>6} {target:>8} {verdict:>6}"
        )
    if timings:
        lines += ["", "contenders (µs per op: best / median / worst round, N ops x rounds):"]
    for group, by_label in timings.items():
        lines.append(f"  {group}")
        for t in by_label.values():
            lines.append(
                f"    {t.label:<46} {t.best_us:8.3f} / {t.median_us:8.3f} / "
                f"{max(t.rounds_ns) / 1000:8.3f}   N={t.n} x {len(t.rounds_ns)}"
            )
    for group, by_rate in (throughputs or {}).items():
        lines += [
            "",
            f"HTTP contenders, {group} (req/s and msg/s: best / median round; latency "
            "p50 / p99 of the median round; server CPU µs per request, leanest round):",
        ]
        for rate in by_rate.values():
            mps = "-"
            if rate.per_request:
                per = rate.per_request
                mps = f"{rate.best_rps * per:,.0f} / {rate.median_rps * per:,.0f}"
            cpu = _rate(rate.cpu_us_per_request)
            lines.append(
                f"    {rate.label:<40} {rate.best_rps:6,.0f} / {rate.median_rps:6,.0f} req/s "
                f"{mps:>17} msg/s  {rate.latency_p50_us / 1000:5.2f} / "
                f"{rate.latency_p99_us / 1000:5.2f} ms  cpu {cpu:>5} µs  errors={rate.errors}"
            )
    for r in results:
        if r.unit not in ("us/op", *RATES) and r.details:
            info = ", ".join(f"{k}={v}" for k, v in r.details.items())
            lines.append(f"  {r.key}: {info}")
    for r in results:
        if r.unit in RATES and r.details:
            lines += [f"  {key}: {value}" for key, value in r.details.items()]
    for case, reason in (skipped or {}).items():
        lines.append(f"skipped {case}: {reason}")
    return "\n".join(lines)


def render_json(
    results: list[CaseResult],
    timings: dict[str, dict[str, Timing]],
    *,
    quick: bool,
    elapsed_s: float,
    throughputs: dict[str, dict[str, Throughput]] | None = None,
    skipped: dict[str, str] | None = None,
) -> str:
    """Return the machine-readable report."""
    payload = {
        "environment": environment(),
        "quick": quick,
        "elapsed_s": round(elapsed_s, 2),
        "cases": [r.to_dict() for r in results],
        "contenders": {
            group: {
                t.label: {
                    "best_us": t.best_us,
                    "median_us": t.median_us,
                    "rounds_us": [x / 1000 for x in t.rounds_ns],
                    "n": t.n,
                }
                for t in by_label.values()
            }
            for group, by_label in timings.items()
        },
        "throughput": {
            group: {
                t.label: {
                    "per_request": t.per_request,
                    "best_rps": t.best_rps,
                    "median_rps": t.median_rps,
                    "best_mps": t.best_mps,
                    "rounds_rps": list(t.rounds_rps),
                    "requests": t.requests,
                    "errors": t.errors,
                    "latency_p50_us": t.latency_p50_us,
                    "latency_p99_us": t.latency_p99_us,
                    "cpu_us_per_request": t.cpu_us_per_request,
                }
                for t in by_rate.values()
            }
            for group, by_rate in (throughputs or {}).items()
        },
        "skipped": dict(skipped or {}),
        "all_passed": all(r.passed is not False for r in results),
    }
    return json.dumps(payload, indent=2)
