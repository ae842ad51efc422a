"""Black-box tests of berrymq_django.core against the public API contract.

Small helpers shared by the test modules live here; import them with
``from . import Recorder`` and friends.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

DEADLINE = 10.0  # generous upper bound (seconds) for anything that must not hang


def dotted_name(obj: Any) -> str:
    """Return module.qualname of a function, method or class, as the logs name it."""
    func = getattr(obj, "__func__", obj)
    return f"{func.__module__}.{func.__qualname__}"


class Recorder:
    """Remember every message that the plain function ``self.fn`` receives (thread safe).

    ``fn`` is a real function (not a callable object) so that it can be
    registered with register_function / following_function like user code.
    """

    def __init__(self, result: Any = None, log: list[Any] | None = None, tag: str = "") -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()

        def fn(message: Any) -> Any:
            with self._lock:
                self.messages.append(message)
                if log is not None:
                    log.append(tag)
            return result

        self.fn = fn

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages]


def run_with_deadline(fn: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Run fn in a daemon thread; return its result or re-raise its exception.

    Fails the test (AssertionError) instead of hanging when fn does not finish
    within timeout, so a call that blocks forever shows up as a clear failure.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"call did not return within {timeout}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def memory_growth(make: Callable[[], Any], cycles: int = 10_000) -> int:
    """Return how many bytes stay allocated after calling make() cycles times.

    Each result of make() is dropped at once. Used to show that short-lived
    followers and queues leave nothing behind, even when nothing is sent
    (show_followers() hides dead entries, so it cannot show a leak).
    """
    tracemalloc.start()
    try:
        for _ in range(200):  # warm up caches and free lists
            make()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(cycles):
            make()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before
