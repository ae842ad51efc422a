"""The shared test helpers (tests/support): eventually(), free_port(), complete_lines()."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.support import NotYet, complete_lines, eventually, free_port


def test_eventually_returns_the_first_value_that_passes():
    values = iter([0, 0, 3, 4])

    assert eventually(lambda: next(values), until=lambda n: n > 2, interval=0) == 3


def test_eventually_fails_at_the_deadline_naming_the_wait_and_the_last_value():
    calls: list[float] = []

    def probe() -> int:
        calls.append(time.monotonic())
        return len(calls)

    started = time.monotonic()
    with pytest.raises(
        NotYet, match=r"waited 0.2 s for probe until .*lambda n: n < 0.*; last saw \d+"
    ) as info:
        eventually(probe, until=lambda n: n < 0, timeout=0.2, interval=0.05)

    assert 0.2 <= time.monotonic() - started < 2.0
    assert calls[-1] - started >= 0.2  # asked once more at the deadline
    assert info.value.last == len(calls)
    assert isinstance(info.value, AssertionError)  # pytest reports it as a failed assertion


def test_eventually_says_what_it_waited_for_and_shortens_a_long_value():
    with pytest.raises(NotYet) as info:
        eventually(lambda: list(range(10_000)), until=lambda _: False, timeout=0, what="the end")

    assert str(info.value).startswith("waited 0 s for the end; last saw [0, 1, 2")
    assert len(str(info.value)) < 400


def test_eventually_treats_ignored_exceptions_as_not_yet_and_raises_others():
    attempts = iter([ConnectionError("down"), ConnectionError("down"), "up"])

    def probe() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert eventually(probe, ignore=(ConnectionError,), interval=0) == "up"
    with pytest.raises(NotYet, match="last saw ConnectionError"):
        eventually(probe_down, ignore=(ConnectionError,), timeout=0.05)
    with pytest.raises(ZeroDivisionError):
        eventually(lambda: 1 / 0, ignore=(ConnectionError,))


def probe_down() -> None:
    raise ConnectionError("down")


def test_free_port_can_be_bound_on_loopback():
    port = free_port()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_complete_lines_leaves_a_line_still_being_written_for_the_next_read(tmp_path: Path):
    journal = tmp_path / "journal"
    assert complete_lines(journal) == []

    journal.write_text('{"n": 1}\n{"n": 2}\n{"n":')
    assert complete_lines(journal) == ['{"n": 1}', '{"n": 2}']

    with journal.open("a") as rest:
        rest.write(" 3}\n")
    assert complete_lines(journal) == ['{"n": 1}', '{"n": 2}', '{"n": 3}']
