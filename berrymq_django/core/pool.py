"""DeliveryPool: the threads that deliver when MULTIPLICITY > 0 (a lifecycle service).

``submit`` never raises because of the pool's state: a pool that is being
replaced (``set_multiplicity``), stopped, or shut down at interpreter exit
answers False, and the dispatcher delivers in the caller instead, so every
message twitter() returns is delivered. The executor is created lazily,
so a forked child gets its own threads on its first submit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["DeliveryPool"]

logger = logging.getLogger("berrymq")


class DeliveryPool:
    """A lazily started ThreadPoolExecutor of ``size`` threads that may refuse work."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # guarded by _lock
        self._stopped = False  # guarded by _lock

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> bool:
        """Run fn(*args) on the pool; return False when the pool takes no more work."""
        executor = self._executor or self._create()
        if executor is None:
            return False
        try:
            executor.submit(fn, *args)
        except RuntimeError:  # shut down: replaced, stopped, or the interpreter is exiting
            return False
        return True

    def _create(self) -> ThreadPoolExecutor | None:
        with self._lock:
            if self._stopped:
                return None
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="berrymq")
            return self._executor

    # -- the lifecycle service ----------------------------------------------

    def start(self) -> None:
        """Nothing to do: threads start with the first message."""

    def stop(self, deadline: float) -> None:
        """Refuse new work, let queued deliveries finish until deadline, then leave them."""
        with self._lock:
            self._stopped = True
            executor, self._executor = self._executor, None
        if executor is None:
            return
        executor.shutdown(wait=False)
        # A follower on this pool may change the multiplicity: never join ourselves.
        threads = [
            t for t in getattr(executor, "_threads", ()) if t is not threading.current_thread()
        ]
        for thread in threads:
            remaining = deadline - time.monotonic()
            thread.join(None if math.isinf(remaining) else max(0.0, remaining))
        if any(t.is_alive() for t in threads):
            # Work items still queued, less the one wake-up item shutdown() adds,
            # and at most one in each live thread.
            queued = max(0, executor._work_queue.qsize() - 1)
            running = sum(1 for t in threads if t.is_alive())
            logger.warning(
                "berryMQ delivery pool stopped by its deadline with %d message(s) queued and "
                "up to %d still being delivered; they go on in the background",
                queued,
                running,
            )

    def after_fork(self) -> None:
        """Forget the parent's threads; the child's first submit starts its own."""
        self._lock = threading.Lock()
        self._executor = None
