"""Figures: what the dispatcher counts as it delivers, per follower and for the whole bus.

``FollowerFigures`` hangs on each Subscription (``sub.figures``): calls that
delivered, calls that raised, seconds spent in them and the last error.
``BusFigures`` hangs on the Dispatcher (``dispatcher.figures``): messages sent,
deliveries, follower errors, in total and per minute for the last hour.

Cost and accuracy: the counters are plain attributes incremented without a
lock, because the hot path (twitter to one follower) must stay cheap. Two
threads incrementing the same counter at the same instant (delivery pool,
several request threads) may lose one increment; the figures are for people
and metrics, not for accounting, and that loss is accepted. Error details
are written together as one assignment of four attributes, so a reader may
see the message of one error with the time of another under a race.

Per-minute figures cost no clock reading of their own: the bus keeps a ring
of 60 snapshots of its totals, one taken at the start of each minute, and a
minute's row is the difference between two snapshots. A snapshot is taken
when the first message (or error) of a new minute is seen, using the
message's own timestamp, or when ``per_minute`` is read. A minute in which
nothing happened is a row of zeros. Memory is fixed: 60 snapshots.

The roll also measures ``wall_offset`` (``time() - perf_counter()``): with
timing on, twitter reads ``perf_counter()`` once, for both the message's
timestamp (that reading plus the offset) and the start of the first
follower's call. Both clocks advance alike (NTP slews them together), so the
timestamp stays within microseconds of ``time()``; a wall clock set by hand
is followed at the next minute (set back: at the next ``per_minute`` or
error, which read ``time()`` itself).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from time import perf_counter, time

__all__ = ["TRACEBACK_LINES", "BusFigures", "FollowerFigures", "describe_error"]

#: The number of lines of a formatted traceback kept as ``last_traceback``.
TRACEBACK_LINES = 20

_MINUTES = 60  # the ring: one hour of minutes


def describe_error(exc: BaseException) -> tuple[str, str]:
    """Return ("ValueError: boom", the formatted traceback's last TRACEBACK_LINES lines)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    lines = "".join(traceback.format_exception(exc)).rstrip("\n").splitlines()
    return text, "\n".join(lines[-TRACEBACK_LINES:])


class FollowerFigures:
    """What one subscription did: a counter set the dispatcher updates on each delivery.

    ``delivered``: calls that returned (a guard that said no, or a collected
    owner, is not a delivery). ``errors``: calls that raised. ``seconds``:
    total seconds spent in the follower's calls (guard included), by
    ``perf_counter()``; on twitter's path a call's time also holds some tens
    of nanoseconds of the dispatcher's own counting, as one clock reading
    ends a call and starts the next. 0.0 while ``BERRYMQ["FOLLOWER_TIMING"]``
    is off. ``last_error``: the last
    exception as "ValueError: boom", ``last_traceback`` its formatted
    traceback (last 20 lines), ``last_error_at`` when it happened (Unix
    seconds, ``time.time()``); all None until a call raised.
    """

    __slots__ = ("delivered", "errors", "last_error", "last_error_at", "last_traceback", "seconds")

    def __init__(self) -> None:
        self.delivered = 0
        self.errors = 0
        self.seconds = 0.0
        self.last_error: str | None = None
        self.last_traceback: str | None = None
        self.last_error_at: float | None = None

    @property
    def calls(self) -> int:
        """Calls that returned or raised: ``delivered + errors``."""
        return self.delivered + self.errors

    @property
    def mean_seconds(self) -> float | None:
        """Mean seconds per call, or None when no call was timed (none made, or timing off)."""
        calls = self.delivered + self.errors
        if not calls or not self.seconds:
            return None
        return self.seconds / calls

    def record_error(self, exc: BaseException, at: float | None = None) -> None:
        """Count a call that raised exc and keep its description; ``at`` defaults to now."""
        text, trace = describe_error(exc)
        self.errors += 1
        self.last_error, self.last_traceback = text, trace
        self.last_error_at = time() if at is None else at

    def __repr__(self) -> str:
        return (
            f"<FollowerFigures delivered={self.delivered} errors={self.errors} "
            f"seconds={self.seconds:.6f}>"
        )


class BusFigures:
    """Totals of the whole dispatcher, and the same per minute for the last hour.

    ``sent``: messages sent through this dispatcher (twitter, atwitter, talk
    and its replies, send). ``delivered``: calls to followers and queues that
    returned. ``errors``: calls that raised. Counters only grow, until
    ``clear()``. ``clock`` (default ``time.time``) tells ``per_minute`` the time.
    """

    __slots__ = (
        "_clock",
        "_lock",
        "_minute",
        "_ring",
        "delivered",
        "errors",
        "minute_end",
        "sent",
        "wall_offset",
    )

    def __init__(self, clock: Callable[[], float] = time) -> None:
        self._clock = clock
        self.sent = 0
        self.delivered = 0
        self.errors = 0
        self._lock = threading.Lock()  # guards _minute, _ring and minute_end (writes)
        self._minute = -1  # the minute number (Unix seconds // 60) of the newest snapshot
        # _ring[m % 60] = (sent, delivered, errors) at the start of minute m.
        self._ring: list[tuple[int, int, int]] = [(0, 0, 0)] * _MINUTES
        # The Unix time the newest minute ends: a sender compares its message's
        # timestamp with this, and rolls the ring when it is reached.
        self.minute_end = 0.0
        # time() - perf_counter(), measured at each roll: the hot path reads
        # perf_counter() once and adds this to get the message's Unix timestamp, so
        # that one reading also starts the timing of the first follower. Measured
        # anew every minute, it follows the wall clock's adjustments within a minute.
        self.wall_offset = time() - perf_counter()

    def roll(self, now: float) -> None:
        """Take the snapshots of every minute begun up to Unix time now, and measure wall_offset.

        A now in an earlier minute than the newest snapshot's means the wall
        clock was set back: the ring starts afresh from now's minute.
        """
        minute = int(now // 60)
        with self._lock:
            self.wall_offset = time() - perf_counter()
            last = self._minute
            if minute == last:
                return
            snapshot = (self.sent, self.delivered, self.errors)
            # What was counted since the last snapshot happened in minute `last`; the
            # minutes since then were quiet (the first snapshot: so was the hour before).
            first = minute - _MINUTES + 1 if minute < last else max(last + 1, minute - _MINUTES + 1)
            for m in range(first, minute + 1):
                self._ring[m % _MINUTES] = snapshot
            self._minute = minute
            self.minute_end = (minute + 1) * 60.0

    def per_minute(self, minutes: int = 60) -> list[tuple[int, int, int, int]]:
        """Return (minute start in Unix seconds, sent, delivered, errors) per minute, oldest first.

        One row for each of the last ``minutes`` minutes (1-60), the current,
        unfinished minute last, quiet minutes as zero rows. Raises TypeError
        or ValueError naming a bad ``minutes``.
        """
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise TypeError(f"minutes must be an int, not {type(minutes).__name__} ({minutes!r}).")
        if not 1 <= minutes <= _MINUTES:
            raise ValueError(f"minutes must be between 1 and {_MINUTES}, not {minutes!r}.")
        self.roll(self._clock())
        with self._lock:
            current = self._minute
            ring = list(self._ring)
            now = (self.sent, self.delivered, self.errors)
        rows = []
        for m in range(current - minutes + 1, current + 1):
            start = ring[m % _MINUTES]
            end = now if m == current else ring[(m + 1) % _MINUTES]
            rows.append(
                (m * 60, end[0] - start[0], end[1] - start[1], end[2] - start[2]),
            )
        return rows

    def clear(self) -> None:
        """Zero every counter and forget the minutes."""
        with self._lock:
            self.sent = self.delivered = self.errors = 0
            self._ring = [(0, 0, 0)] * _MINUTES
            self._minute = -1
            self.minute_end = 0.0

    def __repr__(self) -> str:
        return f"<BusFigures sent={self.sent} delivered={self.delivered} errors={self.errors}>"
