"""The relay: reads the outbox in order and sends each destination its rows.

One thread per process that runs a relay (the site's processes under the
lifecycle owner, or ``manage.py berrymq_relay`` alone). Each round it takes
every destination with pending rows and, for each, claims its oldest BATCH
rows (``store.claim``: one relay per destination at a time, so order
holds), sends them (``destinations``) and finishes them, up to
BATCHES_PER_ROUND batches in a row while they come full: acknowledged rows
are deleted (or kept RETENTION_SECONDS), refused ones become dead letters,
the rest stay pending. A destination that failed waits a growing pause
(up to MAX_BACKOFF) before it is tried again; the others go on.

The thread sleeps POLL_SECONDS between empty rounds, less when a write in
this process wakes it (``wake``). It uses its own database connection,
closed when it stops or after an error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections

from . import store
from .destinations import BackendDestination, Outcome, PeerDestination
from .writer import BACKEND_DESTINATION, PEER_PREFIX

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..rpc.peers import Peers
    from .options import OutboxOptions

__all__ = ["BATCHES_PER_ROUND", "MAX_BACKOFF", "OutboxRelay"]

logger = logging.getLogger("berrymq.outbox")

#: Longest pause, in seconds, before a failing destination is tried again.
MAX_BACKOFF = 2.0
#: Most batches sent to one destination in a row before the others get their turn.
BATCHES_PER_ROUND = 20

_Destination = PeerDestination | BackendDestination


class OutboxRelay:
    """Send the outbox's rows to their destinations (a lifecycle service).

    Thread safety: the relay's thread owns the destinations and the
    counters; start, stop and wake may come from any thread.
    """

    def __init__(self, dispatcher: Dispatcher, peers: Peers, options: OutboxOptions) -> None:
        self.dispatcher = dispatcher
        self.peers = peers
        self.options = options
        self._reset()

    def _reset(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._destinations: dict[str, _Destination] = {}
        self._retry_at: dict[str, tuple[float, float]] = {}  # name -> (when, pause)
        self.sent = self.dead = self.duplicates = 0
        self.last_error: str | None = None

    # -- the lifecycle service ------------------------------------------------

    def start(self) -> None:
        """Start the relay's thread; idempotent."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="berrymq-outbox", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        """Stop after the send in progress (what is pending stays in the table for later)."""
        self._stop.set()
        self._wakeup.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        self._thread = None

    def after_fork(self) -> None:
        """In a forked child: forget the parent's thread and destinations."""
        self._reset()

    def wake(self) -> None:
        """Look at the outbox now (rows were committed in this process)."""
        self._wakeup.set()

    # -- the work -------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    busy = self.run_once()
                except DatabaseError as exc:
                    self._failed("the database", exc)
                    connections[self.options.database].close()
                    busy = False
                    self._stop.wait(MAX_BACKOFF)
                except Exception as exc:  # a bug must not end the relay silently
                    logger.exception("berryMQ outbox relay failed; carrying on")
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    busy = False
                    self._stop.wait(MAX_BACKOFF)
                if not busy:
                    self._wakeup.wait(self.options.poll_seconds)
                    self._wakeup.clear()
        finally:
            self.close()
            connections[self.options.database].close()

    def close(self) -> None:
        """Close the destinations' connections (run_once opens them again when called)."""
        destinations, self._destinations = self._destinations, {}
        for destination in destinations.values():
            destination.close()

    def run_once(self) -> bool:
        """Send one batch to each destination with pending rows; return whether any was sent.

        Raises the database's errors (the caller backs off).
        """
        alias = self.options.database
        busy = False
        now = time.monotonic()
        for name in store.pending_destinations(alias):
            if self._stop.is_set():
                break
            if self._retry_at.get(name, (0.0, 0.0))[0] > now:
                continue
            destination = self._destination(name)
            if destination is None:
                continue  # a peer no longer configured: its rows wait (commands show them)
            # Several batches in a row while they come full: looking for destinations
            # costs a scan of the pending rows' index, worth paying once per round.
            for _ in range(BATCHES_PER_ROUND):
                with store.claim(alias, name, self.options.batch) as rows:
                    if not rows:
                        break
                    outcome = destination.send(rows)
                    self._finish(name, outcome)
                busy = busy or bool(outcome.done or outcome.dead)
                if outcome.error or len(rows) < self.options.batch or self._stop.is_set():
                    break
        return busy

    def _finish(self, name: str, outcome: Outcome) -> None:
        store.finish(
            self.options.database,
            outcome.done,
            outcome.dead,
            retention=self.options.retention_seconds,
        )
        self.sent += len(outcome.done)
        self.dead += len(outcome.dead)
        if outcome.duplicates:
            self.duplicates += outcome.duplicates
            logger.warning(
                "berryMQ outbox: %s already had %d of the message(s) sent (sent again after "
                "a relay stopped mid-send; delivered once)",
                name,
                outcome.duplicates,
            )
        for row_id, error in outcome.dead:
            logger.error(
                "berryMQ outbox: %s refused row %d for good (now a dead letter): %s",
                name,
                row_id,
                error,
            )
        if outcome.error is None:
            self._retry_at.pop(name, None)
            return
        self._failed(name, outcome.error)
        pause = min(MAX_BACKOFF, self._retry_at.get(name, (0.0, 0.025))[1] * 2)
        self._retry_at[name] = (time.monotonic() + pause, pause)

    def _failed(self, name: str, error: object) -> None:
        text = str(error)
        if text != self.last_error:
            logger.warning("berryMQ outbox: sending to %s failed (retrying): %s", name, text)
        self.last_error = text

    def _destination(self, name: str) -> _Destination | None:
        destination = self._destinations.get(name)
        if name.startswith(PEER_PREFIX):
            link = next(
                (
                    link
                    for link in self.peers.links()
                    if link.config.name == name[len(PEER_PREFIX) :]
                ),
                None,
            )
            if link is None:
                return None
            if not isinstance(destination, PeerDestination) or destination.link is not link:
                if destination is not None:
                    destination.close()
                destination = PeerDestination(link, self.options.batch)
        elif name == BACKEND_DESTINATION:
            if destination is None:
                destination = BackendDestination(self.dispatcher)
        else:
            return None
        self._destinations[name] = destination
        return destination

    def status(self) -> dict[str, Any]:
        """Return the relay's figures: running, sent, dead, duplicates, last_error."""
        thread = self._thread
        return {
            "running": thread is not None and thread.is_alive(),
            "sent": self.sent,
            "dead": self.dead,
            "duplicates": self.duplicates,
            "last_error": self.last_error,
        }
