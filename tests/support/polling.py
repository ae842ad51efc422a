"""Wait for something to become true by polling it against a deadline.

A test that sleeps "long enough" for a timer or another thread is slow when
the machine is idle and flaky when it is busy. ``eventually`` asks again every
``interval`` until the answer is right or ``timeout`` has passed, and on
failure says what it waited for and what it saw last.
"""

from __future__ import annotations

import inspect
import reprlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# How much of the last value a failure shows: enough for a status dict, not a whole journal.
_SHORT = reprlib.Repr()
_SHORT.maxlevel = 4
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 24
_SHORT.maxstring = _SHORT.maxother = 300


class NotYet(AssertionError):
    """eventually() ran out of time; ``last`` holds the probe's last value (or exception)."""

    def __init__(self, message: str, last: Any) -> None:
        super().__init__(message)
        self.last = last


def eventually(
    probe: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    ignore: tuple[type[BaseException], ...] = (),
    what: str | None = None,
) -> T:
    """Call probe until until(value) is true; return that value.

    probe runs at once, then every interval seconds, and a last time at the
    deadline (timeout seconds on the monotonic clock). An exception of a type
    in ignore counts as "not yet"; any other propagates at once. Raises
    NotYet (an AssertionError) naming what (by default the source of probe
    and until) and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        final = time.monotonic() >= deadline
        last: object
        try:
            value = probe()
        except ignore as exc:
            last = exc
        else:
            if until(value):
                return value
            last = value
        if final:
            seen = _SHORT.repr(last)
            raise NotYet(
                f"waited {timeout:g} s for {what or _describe(probe, until)}; last saw {seen}", last
            )
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))


def _describe(probe: Callable[..., Any], until: Callable[..., Any]) -> str:
    described = source_of(probe)
    if until is not bool and source_of(until) != described:  # a lambda's line holds both
        described += f" until {source_of(until)}"
    return described


def source_of(func: Callable[..., Any]) -> str:
    """Return a lambda's source line, or a function's qualified name."""
    name = (getattr(func, "__qualname__", None) or repr(func)).rpartition("<locals>.")[2]
    if name != "<lambda>":
        return name
    try:
        lines = inspect.getsource(func).strip().splitlines()
    except (OSError, TypeError):
        return name
    return " ".join(line.strip() for line in lines)
