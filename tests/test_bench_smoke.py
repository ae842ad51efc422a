"""Smoke test for bench/: `python -m bench --quick --json` runs every case.

Timings are not asserted: shared CI machines are too noisy. This only proves
the benchmark still runs against the current API and reports sane numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = {"dispatch", "routing", "queue", "memory"}


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


def test_reports_all_four_cases(report: dict[str, Any]) -> None:
    keys = {case["key"] for case in report["cases"]}
    assert keys >= CASES


def test_numbers_are_positive(report: dict[str, Any]) -> None:
    for case in report["cases"]:
        assert case["ours"] > 0, case
        if case["anchor"] is not None:
            assert case["anchor"] > 0, case
            assert case["ratio"] > 0, case
        assert case["passed"] in (True, False, None), case


def test_gated_cases_have_verdicts(report: dict[str, Any]) -> None:
    by_key = {case["key"]: case for case in report["cases"]}
    for key in CASES:
        assert by_key[key]["passed"] in (True, False), by_key[key]
    assert by_key["memory"]["unit"] == "B/msg"
