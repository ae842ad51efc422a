"""Smoke test for bench/: `python -m bench --quick --json` runs every case, and its figures add up.

Timings are not asserted against targets: shared CI machines are too noisy.
What is asserted is that the report is sane: every figure a positive finite
number, every ratio computed from the two sides it prints, every verdict the
one its target gives, and every anchor a contender that actually ran (its
rounds timed, its requests answered without errors) and whose measurement is
the figure quoted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = {"dispatch", "routing", "queue", "memory"}
# bench/long_polls.py's QUICK plan: polls held by the ASGI and the sync server.
QUICK_ASGI_POLLS, QUICK_SYNC_POLLS = 200, 100
LONG_POLL_ROWS = {
    "long_polls_held",
    "long_polls_wake_p99",
    "long_polls_wake_median",
    "long_polls_rss",
    "long_polls_wake_cpu",
    "long_polls_send_message",
    "long_polls_plain_view",
}
# bench/__main__.py's QUICK plan for the timed cases.
QUICK_N, QUICK_ROUNDS = 5_000, 3
FIGURES = ("ours", "anchor", "ours_median", "anchor_median", "ratio", "median_ratio")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"bench exited {proc.returncode}\n{proc.stderr}"
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def measured(report: dict[str, Any]) -> dict[str, list[float]]:
    """Every figure a case may quote for a contender, by its label: what the bench measured.

    A timed contender gives µs per op and the rate 1e6 / µs; an HTTP one gives
    requests per second, messages per second, and the rate its server CPU time allows.
    """
    figures: dict[str, list[float]] = {}
    for group in report["contenders"].values():
        for label, timing in group.items():
            for us in (timing["best_us"], timing["median_us"]):
                figures.setdefault(label, []).extend([us, 1e6 / us])
    for group in report["throughput"].values():
        for label, rate in group.items():
            per = rate["per_request"] or 1
            found = figures.setdefault(label, [])
            for rps in (rate["best_rps"], rate["median_rps"]):
                found += [rps, rps * per]
            if rate["cpu_us_per_request"]:
                found.append(per * 1e6 / rate["cpu_us_per_request"])
    return figures


def test_reports_all_four_cases(report: dict[str, Any]) -> None:
    keys = {case["key"] for case in report["cases"]}
    assert keys >= CASES


def test_every_figure_is_a_positive_finite_number(report: dict[str, Any]) -> None:
    for case in report["cases"]:
        for name in FIGURES:
            value = case[name]
            if value is not None:
                assert isinstance(value, int | float), (name, case)
                assert math.isfinite(value) and value > 0, (name, case)
        if case["anchor"] is not None:
            assert case["ratio"] is not None, case
            assert case["anchor_label"], case


def test_ratios_are_computed_from_the_two_sides(report: dict[str, Any]) -> None:
    for case in report["cases"]:
        if case["anchor"] is None:
            assert case["ratio"] is None, case
            continue
        assert close(case["ratio"], case["ours"] / case["anchor"]), case
        if case["ours_median"] is not None and case["anchor_median"] is not None:
            assert close(case["median_ratio"], case["ours_median"] / case["anchor_median"]), case


def test_each_verdict_is_the_one_its_target_gives(report: dict[str, Any]) -> None:
    for case in report["cases"]:
        if case["target"] is None:
            assert case["passed"] is None, case
            continue
        figure = case["ours"] if case["ratio"] is None else case["ratio"]
        met = figure >= case["target"] if case["higher_is_better"] else figure <= case["target"]
        assert case["passed"] is met, case
    assert report["all_passed"] is all(c["passed"] is not False for c in report["cases"])


def test_gated_cases_have_verdicts(report: dict[str, Any]) -> None:
    by_key = {case["key"]: case for case in report["cases"]}
    for key in CASES:
        assert isinstance(by_key[key]["passed"], bool), by_key[key]
    assert by_key["memory"]["unit"] == "B/msg"


def test_anchors_actually_ran(report: dict[str, Any]) -> None:
    figures = measured(report)
    every = [value for values in figures.values() for value in values]
    for case in report["cases"]:
        if case["anchor"] is None:
            continue
        label = case["anchor_label"]
        assert label in figures, f"{case['key']}: no contender {label!r} ran"
        assert any(close(case["anchor"], f) for f in figures[label]), (case, figures[label])
        assert any(close(case["ours"], f) for f in every), case


def test_timed_contenders_ran_every_round(report: dict[str, Any]) -> None:
    for group, by_label in report["contenders"].items():
        for label, timing in by_label.items():
            rounds = timing["rounds_us"]
            assert rounds and all(us > 0 for us in rounds), (group, label, timing)
            assert close(timing["best_us"], min(rounds)), (group, label, timing)
            assert min(rounds) <= timing["median_us"] <= max(rounds), (group, label, timing)
            assert timing["n"] > 0, (group, label, timing)
            if group in ("dispatch", "routing", "queue"):
                assert (timing["n"], len(rounds)) == (QUICK_N, QUICK_ROUNDS), (group, label)
    for case in report["cases"]:
        if case["unit"] == "us/op":
            assert case["details"] == {"n": QUICK_N, "rounds": QUICK_ROUNDS}, case


def test_http_contenders_answered_without_errors(report: dict[str, Any]) -> None:
    for group, by_label in report["throughput"].items():
        for label, rate in by_label.items():
            assert rate["requests"] > 0, (group, label, rate)
            assert rate["errors"] == 0, (group, label, rate)
            assert rate["rounds_rps"] and all(r > 0 for r in rate["rounds_rps"]), (group, label)
            assert close(rate["best_rps"], max(rate["rounds_rps"])), (group, label, rate)


def test_memory_is_the_bytes_it_measured_per_message(report: dict[str, Any]) -> None:
    [memory] = [case for case in report["cases"] if case["key"] == "memory"]
    details = memory["details"]

    assert details["n"] > 0 and details["bytes"] > 0, memory
    assert close(memory["ours"], details["bytes"] / details["n"]), memory


def test_only_unavailable_cases_are_skipped(report: dict[str, Any]) -> None:
    for case, reason in report["skipped"].items():
        assert isinstance(reason, str) and reason.strip(), (case, reason)
    if os.environ.get("BERRYMQ_REQUIRE_REDIS"):
        assert "redis" not in report["skipped"], report["skipped"]
    ran = {case["key"].split("_")[0] for case in report["cases"]}
    assert not ran & set(report["skipped"]), (ran, report["skipped"])


def test_long_polls_held_every_poll_and_report_what_they_measured(report: dict[str, Any]) -> None:
    if "long_polls" in report["skipped"]:
        pytest.skip(report["skipped"]["long_polls"])
    by_key = {case["key"]: case for case in report["cases"]}
    assert set(by_key) >= LONG_POLL_ROWS
    held = by_key["long_polls_held"]
    asgi, sync = held["details"]["asgi"], held["details"]["sync"]
    assert (asgi["polls"], asgi["held"]) == (QUICK_ASGI_POLLS, QUICK_ASGI_POLLS)
    assert (sync["polls"], sync["held"]) == (QUICK_SYNC_POLLS, QUICK_SYNC_POLLS)
    assert held["ours"] == QUICK_ASGI_POLLS
    # A sync poll holds a thread; an ASGI one does not.
    assert sync["threads_waiting"] >= QUICK_SYNC_POLLS
    assert asgi["threads_waiting"] < QUICK_ASGI_POLLS // 10
    for side in (asgi, sync):
        kb = (side["rss_waiting_kb"] - side["rss_before_kb"]) / side["held"]
        assert close(side["kb_per_poll"], kb), side
    assert close(by_key["long_polls_rss"]["ours"], asgi["kb_per_poll"] / sync["kb_per_poll"])
    for key in ("long_polls_wake_p99", "long_polls_wake_median"):
        assert by_key[key]["unit"] == "ms" and isinstance(by_key[key]["passed"], bool)
    assert by_key["long_polls_wake_median"]["ours"] <= by_key["long_polls_wake_p99"]["ours"]
