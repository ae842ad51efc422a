"""Time contenders side by side: interleaved rounds, gc off, best and median kept.

A contender is a callable ``run(n) -> int`` that performs one operation ``n``
times and returns the elapsed nanoseconds (measured with
``time.perf_counter_ns`` around its own loop, so setup stays outside).
Writing the loop inside each contender keeps the per-op overhead the same for
everyone: a ``for _ in repeat(None, n)`` with every name bound locally.

HTTP contenders are loaded by an outside load generator instead (see
``bench.rpc_http``); their rounds are kept here as a ``Throughput``.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

Runner = Callable[[int], int]


@dataclass(frozen=True)
class Contender:
    """One thing to time: a label and a ``run(n) -> elapsed_ns`` callable."""

    label: str
    run: Runner


@dataclass(frozen=True)
class Timing:
    """Per-op times of one contender over all rounds, in nanoseconds."""

    label: str
    n: int
    rounds_ns: tuple[float, ...]

    @property
    def best_ns(self) -> float:
        return min(self.rounds_ns)

    @property
    def median_ns(self) -> float:
        return statistics.median(self.rounds_ns)

    @property
    def best_us(self) -> float:
        return self.best_ns / 1000.0

    @property
    def median_us(self) -> float:
        return self.median_ns / 1000.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect once, then keep the cyclic GC off inside the block; restore after."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def measure(
    contenders: Sequence[Contender], *, n: int, rounds: int, warmup: int
) -> dict[str, Timing]:
    """Time every contender ``rounds`` times with ``n`` ops, interleaved.

    Each round runs all contenders once, in an order rotated by the round
    number, so drift in machine load (turbo, other processes) lands on all of
    them rather than on whichever happened to run last. Returns per-op timings
    keyed by label.
    """
    if n <= 0 or rounds <= 0:
        raise ValueError(f"n and rounds must be positive, got n={n!r} rounds={rounds!r}")
    per_op: dict[str, list[float]] = {c.label: [] for c in contenders}
    with gc_paused():
        for contender in contenders:
            contender.run(warmup)
        for round_no in range(rounds):
            shift = round_no % len(contenders)
            for contender in (*contenders[shift:], *contenders[:shift]):
                per_op[contender.label].append(contender.run(n) / n)
            # Cycles created while timing (if any) are freed between rounds,
            # outside the timed region.
            gc.collect()
    return {label: Timing(label, n, tuple(times)) for label, times in per_op.items()}


@dataclass(frozen=True)
class Throughput:
    """Requests per second of one HTTP contender over all rounds, from the load generator.

    ``per_request`` is how many messages one request carries (0 for reference views
    that carry none); latencies are the median round's, in microseconds.
    ``cpu_us_per_request`` is the server's CPU time per request in its leanest
    round (None where it cannot be read).
    """

    label: str
    per_request: int
    rounds_rps: tuple[float, ...]
    requests: int
    errors: int
    latency_p50_us: float
    latency_p99_us: float
    cpu_us_per_request: float | None = None

    @property
    def best_rps(self) -> float:
        return max(self.rounds_rps)

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rounds_rps)

    @property
    def best_mps(self) -> float | None:
        return self.best_rps * self.per_request if self.per_request else None

    @property
    def median_mps(self) -> float | None:
        return self.median_rps * self.per_request if self.per_request else None
