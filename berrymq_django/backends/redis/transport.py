"""The transport: non-local messages between processes, through Redis streams.

How a message travels: twitter() delivers in its own process, then hands the
message to publish(), which only appends it to an in-process buffer (no I/O
on the caller's thread). The sender thread writes what accumulated to the
stream in batches, and the publishing script pushes each message into the
lists of the shared queues and queue connections it matches (see sender and
wire.PUBLISH), and each grouped message into the stream of its group. The
receiver thread of every other process reads the stream and hands the
messages to its dispatcher (see receiver); the group reader of each process
with members of a group takes its share of the group's stream and hands
it to ``receive_group`` (see group_reader).

Faults: when Redis is unreachable, twitter() carries on in-process; messages
for other processes wait in the buffer and are flushed on reconnect;
status() reports the backend disconnected until it is back.

Threads: they start when the backend is bound, or with the site after a
stop; a forked child whose site has not started its lifecycle starts them
on first use (a publish, a shared queue, ready()). ``stop(deadline)`` lets
the sender flush until the deadline, stops and joins both, and logs with a
count what it could not send (status()["buffered"] keeps counting it). The
group reader stops first: it runs what it read until a moment before the
deadline, then acknowledges, so that what its followers send is flushed.

Fork: a fork waits, up to FORK_WAIT per thread, for each to finish the
Redis command it is in (redis-py and the import system hold locks there
that the child would wait for): that is the ``before`` fork hook at the end
of this module, the one thing the lifecycle cannot express. In the child,
``after_fork()`` forgets the threads and the buffer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from time import monotonic
from typing import TYPE_CHECKING, Any

from ...core.lifecycle import lifecycle
from ...rpc.urls import shown_url
from .group_reader import GroupReader
from .receiver import StreamReceiver
from .sender import StreamSender

if TYPE_CHECKING:
    from ...core.contracts import Inbox
    from ...core.message import Message
    from .client import SharedClient
    from .groups import GroupRoutes
    from .options import RedisOptions
    from .sender import Routes
    from .wire import Keys

__all__ = ["RedisTransport"]

logger = logging.getLogger("berrymq")

FORK_WAIT = 2.0  # seconds a fork waits for each thread to finish its Redis command


class RedisTransport:
    """Carry non-local messages to and from the other processes, on three threads.

    Thread safety: ``_lock`` guards ``_threads``, ``_stop`` and ``_state``;
    ``running`` is written under it and read without it on the hot path.
    """

    def __init__(
        self,
        client: SharedClient,
        keys: Keys,
        options: RedisOptions,
        shared: Routes,
        groups: GroupRoutes,
    ) -> None:
        self.client = client
        self.sender = StreamSender(client, keys, options, (shared, groups))
        self.receiver = StreamReceiver(client, keys)
        self.receiver.on_error = client.lost
        self.groups = GroupReader(client, keys, groups)
        self.groups.on_error = client.lost
        groups.changed = self._groups_changed
        client.on_lost = self.sender.connection_lost
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._held_for_fork: list[threading.Lock] = []
        self._stop = threading.Event()
        self._stop_groups = threading.Event()
        self._threads: list[threading.Thread] = []
        self._state = "new"  # "new" (starts on first use), "running" or "stopped"
        #: Whether the threads run.
        self.running = False
        self._left_logged = 0

    def bind(self, inbox: Inbox) -> None:
        """Hand the messages other processes send to inbox.receive, grouped ones to
        inbox.receive_group."""
        self.receiver.inbox = inbox
        self.groups.inbox = inbox

    def _groups_changed(self) -> None:
        """A group was joined or left: renew the routes and read the streams now."""
        if self._state == "new":
            self.start_on_demand()
        elif self.running:
            with self._lock:
                self._start_group_reader_locked()
        self.sender.renew_soon()
        self.groups.poke()

    # -- the lifecycle's Service ---------------------------------------------------

    def start(self) -> None:
        """Start the sender and receiver threads, and the group reader if this process
        has group members; idempotent; nothing once closed."""
        with self._lock:
            if self.client.closed or any(t.is_alive() for t in self._threads):
                return
            self._stop = stop = threading.Event()
            self._stop_groups = threading.Event()
            self.sender.stop_by = self.groups.stop_by = float("inf")
            self._threads = [
                self._thread(self.sender, "sender", stop),
                self._thread(self.receiver, "receiver", stop),
            ]
            self._state = "running"
            self.running = True
            _running.add(self)
            for thread in self._threads:
                thread.start()
            self._start_group_reader_locked()

    def _thread(self, part: Any, name: str, stop: threading.Event) -> threading.Thread:
        return threading.Thread(
            target=part.run,
            args=(stop,),
            name=f"berrymq-redis-{name}-{self.client.token}",
            daemon=True,
        )

    def _start_group_reader_locked(self) -> None:
        """Start the group reader once a group is joined; the caller holds _lock."""
        if not self.running or not self.groups.routes.streams():
            return
        if any(t.name.startswith("berrymq-redis-groups") for t in self._threads):
            return
        thread = self._thread(self.groups, "groups", self._stop_groups)
        self._threads.append(thread)
        thread.start()

    def start_on_demand(self) -> None:
        """Start unless started or stopped before (in a child whose site has not started)."""
        if self._state == "new":
            self.start()

    def stop(self, deadline: float) -> None:
        """Flush until the monotonic deadline, then stop and join the threads; log what is left."""
        with self._lock:
            threads, stop, stop_groups = self._threads, self._stop, self._stop_groups
            self.running = False
            if self._state == "running":
                self._state = "stopped"
            # The group reader stops running followers well before the deadline, and the
            # sender flushing a moment before it, to be joined by it.
            left = max(0.0, deadline - monotonic())
            self.groups.stop_by = deadline - min(1.0, left / 2)
            self.sender.stop_by = deadline - min(0.25, left / 4)
        stop_groups.set()  # the group reader runs what it read, acknowledges and ends
        self.groups.wake.set()
        first = [t for t in threads if t.name.startswith("berrymq-redis-groups")]
        for thread in first:
            while thread.is_alive() and monotonic() < deadline:
                self.groups.unblock()
                thread.join(0.05)
        stop.set()  # the sender flushes what it holds, then both threads end
        self.sender.wake.set()
        for thread in threads:
            while thread.is_alive() and monotonic() < deadline:
                if thread.name.startswith("berrymq-redis-receiver"):
                    self.receiver.unblock()
                thread.join(0.05)
        with self._lock:
            self._threads = survivors = [t for t in threads if t.is_alive()]
        if survivors:
            logger.warning(
                "berryMQ Redis backend: %s still running at the stop deadline.",
                ", ".join(t.name for t in survivors),
            )
        else:
            _running.discard(self)
        self._report_left()

    def after_fork(self) -> None:
        """In a forked child: forget the parent's threads, buffer and locks; start nothing."""
        _running.discard(self)
        self._reset()
        self.sender.after_fork()
        self.receiver.after_fork()
        self.groups.after_fork()

    # -- messages ------------------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Queue message for the other processes; never blocks, never raises for Redis.

        After its backend closed, or once stopped at interpreter exit, nothing
        will send it: the message is dropped, counted in ``dropped`` and logged.
        (Stopped otherwise, it waits for a restart.)
        """
        if not self.running:
            if self.client.closed or (self._state == "stopped" and lifecycle.exiting):
                self._refuse_after_stop(message)
                return
            self.start_on_demand()
        self.sender.publish(message)

    def _refuse_after_stop(self, message: Message) -> None:
        sender = self.sender
        sender.dropped += 1
        if sender.dropped_after_stop == 0 or sender.dropped_after_stop % 1000 == 999:
            logger.warning(
                "berryMQ Redis backend: message %r sent after the backend %s; "
                "other processes will not get it (%d such message(s) dropped)",
                message.id,
                "closed" if self.client.closed else "stopped",
                sender.dropped_after_stop + 1,
            )
        sender.dropped_after_stop += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every published message reached Redis; return whether all did."""
        sender = self.sender
        deadline = monotonic() + timeout
        sender.wake.set()
        while sender.buffer or sender.unsent:
            if monotonic() >= deadline or not self.running:
                return False
            time.sleep(0.002)
        return True

    # -- health --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the threads reach Redis right now (the group reader reading every
        group stream this process joined)."""
        groups = self.groups
        return (
            self.running
            and self.sender.ok
            and self.receiver.ok
            and (groups.reading or not groups.routes.streams())
        )

    def ready(self, timeout: float = 5.0) -> bool:
        """Start if needed and wait until connected and reading; return whether it is."""
        if self.client.closed:
            return False
        self.start_on_demand()
        deadline = monotonic() + timeout
        while not self.connected and monotonic() < deadline:
            time.sleep(0.01)
        return self.connected

    def status(self) -> dict[str, Any]:
        """Return the counters: connected, buffered, published, received, dropped, ...

        ``lag_seconds`` and ``lag_max_seconds`` (floats, None before a message
        from another process came in) say how far behind the receiver reads:
        see receiver.py; they compare the sender's clock with this one.
        """
        sender = self.sender
        receiver = self.receiver
        return {
            "connected": self.connected,
            "buffered": len(sender.buffer) + sender.unsent,
            "published": sender.published,
            "received": receiver.received,
            "missed_batches": receiver.missed,
            "lag_seconds": receiver.lag,
            "lag_max_seconds": receiver.lag_max(),
            "dropped": sender.dropped,
            "unencodable": sender.unencodable,
            "last_error": self.client.last_error,
            "group_dropped": sender.group_dropped,
            **self.groups.status(),
        }

    def _report_left(self) -> None:
        left = len(self.sender.buffer) + self.sender.unsent
        if left and left != self._left_logged:
            logger.warning(
                "berryMQ Redis backend stopped with %d message(s) for other processes unsent "
                "(Redis at %s: %s).",
                left,
                shown_url(self.client.url),
                self.client.last_error,
            )
        self._left_logged = left

    # -- fork ----------------------------------------------------------------------

    def _hold_for_fork(self) -> None:
        self._held_for_fork = [
            lock
            for lock in (self.sender.busy, self.receiver.busy, self.groups.busy)
            if lock.acquire(timeout=FORK_WAIT)
        ]

    def _release_after_fork(self) -> None:
        held, self._held_for_fork = self._held_for_fork, []
        for lock in held:
            lock.release()


# Transports whose threads run: a fork waits for their Redis commands. In the child,
# after_fork() replaces the held locks with new ones.
_running: weakref.WeakSet[RedisTransport] = weakref.WeakSet()


def _before_fork() -> None:
    for transport in list(_running):
        transport._hold_for_fork()


def _after_fork_in_parent() -> None:
    for transport in list(_running):
        transport._release_after_fork()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)
