"""One owner for every piece of background work: start, fork, stop.

Delivery pools, peer links, backend sender and receiver threads all follow
the same three rules, so they are kept here rather than by each piece:

* **start** with the site (``lifecycle.start()``, called by the Django app
  when it is ready, or by a worker's boot hook), never on import and never
  on a first request; a service added after the start is started at once;
* **fork**: in a forked child every service drops what it inherited
  (threads, locks, clients, buffers that the parent still owns) through
  ``after_fork()``, and services the parent had started are started again
  in the child, so a forked worker behaves like a fresh process;
* **stop** (``lifecycle.stop()``, and at interpreter exit): every service
  is stopped in the reverse order of its start within one shared deadline,
  flushing what it can; what it cannot flush it logs with a count and
  counts (the service's own ``status()`` says how much).

A service is anything with ``start()``, ``stop(deadline)`` and
``after_fork()`` (see ``Service``). Services are held weakly: dropping the
last reference to one removes it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import Protocol

__all__ = ["STOP_TIMEOUT", "Lifecycle", "Service", "lifecycle"]

logger = logging.getLogger("berrymq")

#: Seconds that stopping every service may take in all, at exit and by default.
STOP_TIMEOUT = 5.0


class Service(Protocol):
    """Background work the lifecycle owns."""

    def start(self) -> None:
        """Start the threads; idempotent."""
        ...

    def stop(self, deadline: float) -> None:
        """Flush until ``time.monotonic()`` passes deadline, then stop and join; idempotent.

        Whatever is left unsent is logged with its count, not dropped silently.
        """
        ...

    def after_fork(self) -> None:
        """In a forked child: forget inherited threads, locks and clients; start nothing."""
        ...


class Lifecycle:
    """Start, restart after fork, and stop a set of services.

    Thread safety: ``_lock`` guards ``_services`` and ``_started``; services'
    own methods are called outside it, so a service may add another.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Insertion order is start order; weak so a dropped service goes away.
        self._services: weakref.WeakValueDictionary[int, Service] = weakref.WeakValueDictionary()
        self._next = 0
        self._started = False
        self._stopped = False
        self._exiting = False

    @property
    def started(self) -> bool:
        """Whether start() ran (and stop() did not since)."""
        return self._started

    @property
    def exiting(self) -> bool:
        """Whether the interpreter is exiting: stopped services will not start again."""
        return self._exiting

    def _at_exit(self) -> None:
        self._exiting = True
        self.stop()

    def add(self, service: Service) -> Service:
        """Own service from now on; start it at once if the lifecycle has started."""
        with self._lock:
            if any(s is service for s in self._services.values()):
                return service
            self._next += 1
            self._services[self._next] = service
            started = self._started
        if started:
            service.start()
        return service

    def discard(self, service: Service) -> None:
        """Stop owning service (it is not stopped: the caller does that)."""
        with self._lock:
            for key, value in list(self._services.items()):
                if value is service:
                    del self._services[key]

    def services(self) -> list[Service]:
        """Return the owned services in start order."""
        with self._lock:
            return [self._services[k] for k in sorted(self._services.keys())]

    def start(self) -> None:
        """Start every service (the site is up); idempotent."""
        with self._lock:
            self._started, self._stopped = True, False
        for service in self.services():
            service.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every service, newest first, all within timeout seconds."""
        with self._lock:
            self._started, self._stopped = False, True
        deadline = time.monotonic() + timeout
        for service in reversed(self.services()):
            try:
                service.stop(deadline)
            except Exception:  # one service's bug must not keep the others running
                logger.exception("berryMQ: stopping %r failed", service)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        services = [self._services[k] for k in sorted(self._services.keys())]
        for service in services:
            try:
                service.after_fork()
            except Exception:
                logger.exception("berryMQ: resetting %r after fork failed", service)
        if self._started:
            for service in services:
                service.start()


#: The process's one lifecycle; the Django app starts it when it is ready.
lifecycle = Lifecycle()

os.register_at_fork(after_in_child=lifecycle._after_fork_in_child)
atexit.register(lifecycle._at_exit)
