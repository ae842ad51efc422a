"""Figures: deliveries, errors, time and last error per follower; sent/delivered/errors per minute.

Every way a message is delivered (twitter, atwitter, talk, send, receive,
receive_group, the delivery pool) must count in the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from berrymq_django import Message
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.figures import TRACEBACK_LINES, BusFigures, FollowerFigures
from berrymq_django.core.subscription import Subscription
from tests.support import eventually


def boom(message: Message) -> None:
    raise ValueError("boom")


def nothing(message: Message) -> None:
    pass


def sub_of(dispatcher: Dispatcher, fn: Callable[..., Any]) -> Subscription:
    (sub,) = [s for s in dispatcher.subscriptions() if s.resolve() is fn]
    return sub


def figures_of(dispatcher: Dispatcher, fn: Callable[..., Any]) -> FollowerFigures:
    return sub_of(dispatcher, fn).figures


# -- per follower -------------------------------------------------------------------


def test_a_new_follower_has_no_figures():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing)
    figures = figures_of(dispatcher, nothing)

    assert (figures.delivered, figures.errors, figures.seconds) == (0, 0, 0.0)
    assert figures.mean_seconds is None
    assert figures.last_error is None and figures.last_traceback is None
    assert figures.last_error_at is None


def test_each_delivery_is_counted_and_timed():
    dispatcher = Dispatcher()

    def slow(message: Message) -> None:
        time.sleep(0.01)

    dispatcher.register_function("order:paid", slow)
    dispatcher.register_function("order:paid", nothing)
    for _ in range(3):
        dispatcher.twitter("order:paid")

    figures = figures_of(dispatcher, slow)
    assert figures.delivered == 3
    assert figures.errors == 0
    assert figures.seconds >= 0.03  # a sleep lasts at least as long as asked
    assert figures.mean_seconds == pytest.approx(figures.seconds / 3)
    assert figures_of(dispatcher, nothing).delivered == 3
    assert (dispatcher.figures.sent, dispatcher.figures.delivered) == (3, 6)


def test_timing_off_keeps_the_counts_but_not_the_time():
    dispatcher = Dispatcher(follower_timing=False)
    dispatcher.register_function("order:paid", nothing)
    dispatcher.register_function("order:paid", boom)
    dispatcher.twitter("order:paid")

    figures = figures_of(dispatcher, nothing)
    assert figures.delivered == 1
    assert figures.seconds == 0.0
    assert figures.mean_seconds is None
    assert figures_of(dispatcher, boom).errors == 1
    assert figures_of(dispatcher, boom).seconds == 0.0


def test_configure_turns_timing_on_and_off():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing)
    dispatcher.configure(follower_timing=False)
    dispatcher.twitter("order:paid")
    assert figures_of(dispatcher, nothing).seconds == 0.0

    dispatcher.configure(follower_timing=True)
    dispatcher.twitter("order:paid")
    assert figures_of(dispatcher, nothing).seconds > 0.0


def test_a_failing_follower_keeps_its_last_error():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", boom)
    before = time.time()
    dispatcher.twitter("order:paid")
    after = time.time()

    figures = figures_of(dispatcher, boom)
    assert (figures.delivered, figures.errors) == (0, 1)
    assert figures.last_error == "ValueError: boom"
    assert figures.last_traceback is not None
    assert figures.last_traceback.startswith("Traceback (most recent call last):")
    assert 'raise ValueError("boom")' in figures.last_traceback
    assert figures.last_traceback.endswith("ValueError: boom")
    assert figures.last_error_at is not None and before <= figures.last_error_at <= after
    assert dispatcher.figures.errors == 1
    assert figures.seconds > 0.0  # a call that raised took time too


def test_the_last_error_replaces_the_one_before():
    dispatcher = Dispatcher()
    errors = iter([KeyError("first"), RuntimeError("second")])

    def flaky(message: Message) -> None:
        raise next(errors)

    dispatcher.register_function("order:paid", flaky)
    dispatcher.twitter("order:paid")
    dispatcher.twitter("order:paid")

    figures = figures_of(dispatcher, flaky)
    assert figures.errors == 2
    assert figures.last_error == "RuntimeError: second"


def test_a_long_traceback_is_cut_to_its_last_lines():
    dispatcher = Dispatcher()

    # Two functions calling each other: Python folds repeats of one same line only.
    def deep(message: Message, depth: int = 30) -> None:
        if depth == 0:
            raise ValueError("deep down")
        deeper(message, depth - 1)

    def deeper(message: Message, depth: int) -> None:
        deep(message, depth)

    dispatcher.register_function("order:paid", deep)
    dispatcher.twitter("order:paid")

    trace = figures_of(dispatcher, deep).last_traceback
    assert trace is not None
    assert len(trace.splitlines()) == TRACEBACK_LINES
    assert trace.endswith("ValueError: deep down")


def test_an_error_without_a_message_is_named_by_its_type():
    dispatcher = Dispatcher()

    def bare(message: Message) -> None:
        raise LookupError

    dispatcher.register_function("order:paid", bare)
    dispatcher.twitter("order:paid")
    assert figures_of(dispatcher, bare).last_error == "LookupError"


def test_errors_are_counted_when_they_reach_the_sender():
    dispatcher = Dispatcher(raise_errors=True)
    dispatcher.register_function("order:paid", boom)
    with pytest.raises(ValueError, match="boom"):
        dispatcher.twitter("order:paid")

    assert figures_of(dispatcher, boom).errors == 1
    assert figures_of(dispatcher, boom).last_error == "ValueError: boom"
    assert dispatcher.figures.errors == 1
    assert dispatcher.error_count == 0  # error_count counts only what was logged


def test_a_guard_that_says_no_is_not_a_delivery():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing, lambda m: bool(m.args))
    dispatcher.twitter("order:paid")
    dispatcher.twitter("order:paid", 1)

    assert figures_of(dispatcher, nothing).delivered == 1
    assert dispatcher.figures.delivered == 1


def test_a_queue_counts_what_it_was_given():
    from berrymq_django.core.queue import Queue

    dispatcher = Dispatcher()
    queue = Queue("task:*", dispatcher=dispatcher)
    dispatcher.twitter("task:run")
    dispatcher.twitter("task:run")

    (sub,) = dispatcher.subscriptions()
    assert sub.figures.delivered == 2
    assert queue.qsize() == 2


# -- every path -----------------------------------------------------------------------


def _twitter(dispatcher: Dispatcher) -> None:
    dispatcher.twitter("order:paid", 1)


def _talk(dispatcher: Dispatcher) -> None:
    dispatcher.talk("order:paid", "order:answer", 1)


def _send(dispatcher: Dispatcher) -> None:
    dispatcher.send(Message("order:paid", (1,), None, "elsewhere"))


def _receive(dispatcher: Dispatcher) -> None:
    dispatcher.receive(Message("order:paid", (1,), None, "elsewhere"))


def _receive_group(dispatcher: Dispatcher) -> None:
    from berrymq_django.core.exceptions import FollowerFailed

    with pytest.raises(FollowerFailed):
        dispatcher.receive_group("billing", Message("order:paid", (1,), None, "elsewhere"))


PATHS = {
    "twitter": (_twitter, 1),
    "talk": (_talk, 2),  # the request and the reply of the follower that answered
    "send": (_send, 1),
    "receive": (_receive, 0),  # made in another process: sent there, not here
    "receive_group": (_receive_group, 0),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_counts(path: str):
    deliver, sent = PATHS[path]
    dispatcher = Dispatcher()
    group = "billing" if path == "receive_group" else None
    dispatcher.register_function("order:paid", nothing, group=group)
    dispatcher.register_function("order:paid", boom, group=group)

    deliver(dispatcher)

    assert figures_of(dispatcher, nothing).delivered == 1
    assert figures_of(dispatcher, nothing).seconds > 0.0
    assert figures_of(dispatcher, boom).errors == 1
    assert figures_of(dispatcher, boom).last_error == "ValueError: boom"
    assert dispatcher.figures.sent == sent
    assert dispatcher.figures.errors == 1
    assert dispatcher.figures.delivered == 1


async def test_atwitter_counts_async_and_sync_followers():
    dispatcher = Dispatcher()

    async def awaited(message: Message) -> None:
        pass

    async def afailing(message: Message) -> None:
        raise ValueError("boom")

    dispatcher.register_function("order:paid", awaited)
    dispatcher.register_function("order:paid", nothing)
    dispatcher.register_function("order:paid", afailing)
    await dispatcher.atwitter("order:paid")

    assert figures_of(dispatcher, awaited).delivered == 1
    assert figures_of(dispatcher, awaited).seconds > 0.0
    assert figures_of(dispatcher, nothing).delivered == 1
    assert figures_of(dispatcher, afailing).errors == 1
    assert figures_of(dispatcher, afailing).last_error == "ValueError: boom"
    assert (dispatcher.figures.sent, dispatcher.figures.delivered) == (1, 2)


def test_the_delivery_pool_counts():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing)
    dispatcher.register_function("order:paid", boom)
    dispatcher.set_multiplicity(2)
    try:
        for _ in range(5):
            dispatcher.twitter("order:paid")
        eventually(lambda: figures_of(dispatcher, nothing).delivered, lambda n: n == 5)
        eventually(lambda: figures_of(dispatcher, boom).errors, lambda n: n == 5)
    finally:
        dispatcher.set_multiplicity(0)
    assert dispatcher.figures.sent == 5
    assert figures_of(dispatcher, boom).last_error == "ValueError: boom"


def test_talk_replies_count_as_sent():
    dispatcher = Dispatcher()
    dispatcher.register_function("price:ask", lambda message: 42)
    dispatcher.register_function("price:answer", nothing)

    assert dispatcher.talk("price:ask", "price:answer") == [42]
    assert dispatcher.figures.sent == 2  # the request and its one reply
    assert figures_of(dispatcher, nothing).delivered == 1


# -- reset and isolation ------------------------------------------------------------


def test_reset_zeroes_the_bus_figures():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", boom)
    dispatcher.twitter("order:paid")
    dispatcher.reset()

    figures = dispatcher.figures
    assert (figures.sent, figures.delivered, figures.errors) == (0, 0, 0)
    assert all(row[1:] == (0, 0, 0) for row in figures.per_minute())


def test_isolate_counts_apart_and_restores_the_figures():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing)
    dispatcher.twitter("order:paid")
    with dispatcher.isolate():
        assert dispatcher.figures.sent == 0
        dispatcher.twitter("order:paid")
        dispatcher.twitter("order:paid")
        assert dispatcher.figures.sent == 2
    assert dispatcher.figures.sent == 1
    assert figures_of(dispatcher, nothing).delivered == 1


# -- per minute ---------------------------------------------------------------------


class Clock:
    """A settable clock for BusFigures(clock=...)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


T0 = 1_800_000_000.0  # a minute boundary: 30,000,000 minutes


def count(figures: BusFigures, at: float, sent: int = 0, delivered: int = 0, errors: int = 0):
    """Count as the dispatcher does: roll when a new minute is reached, then bump."""
    if at >= figures.minute_end:
        figures.roll(at)
    figures.sent += sent
    figures.delivered += delivered
    figures.errors += errors


def test_per_minute_rows_are_the_last_minutes_oldest_first():
    clock = Clock(T0 + 150)
    figures = BusFigures(clock=clock)
    count(figures, T0 + 5, sent=3, delivered=6)
    count(figures, T0 + 59, sent=1, delivered=2, errors=1)
    count(figures, T0 + 60, sent=2, delivered=4)
    # Minute T0+120 is quiet; we read during it.

    assert figures.per_minute(4) == [
        (int(T0) - 60, 0, 0, 0),
        (int(T0), 4, 8, 1),
        (int(T0) + 60, 2, 4, 0),
        (int(T0) + 120, 0, 0, 0),
    ]
    rows = figures.per_minute()
    assert len(rows) == 60
    assert rows[-1][0] == int(T0) + 120
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert sum(r[1] for r in rows) == figures.sent == 6


def test_per_minute_skips_quiet_minutes_as_zero_rows():
    clock = Clock(T0)
    figures = BusFigures(clock=clock)
    count(figures, T0 + 1, sent=1)
    count(figures, T0 + 10 * 60 + 1, sent=5)
    clock.now = T0 + 10 * 60 + 30

    rows = figures.per_minute(11)
    assert rows[0] == (int(T0), 1, 0, 0)
    assert rows[1:10] == [(int(T0) + 60 * m, 0, 0, 0) for m in range(1, 10)]
    assert rows[10] == (int(T0) + 600, 5, 0, 0)


def test_an_hour_later_the_old_minutes_are_gone():
    clock = Clock(T0)
    figures = BusFigures(clock=clock)
    for minute in range(200):  # over three hours of traffic: the ring stays 60 long
        count(figures, T0 + 60 * minute, sent=1)
    clock.now = T0 + 60 * 199 + 1

    rows = figures.per_minute()
    assert len(figures._ring) == 60
    assert rows[0][0] == int(T0) + 60 * 140
    assert all(row[1] == 1 for row in rows)
    clock.now += 3 * 3600  # three quiet hours
    assert all(row[1:] == (0, 0, 0) for row in figures.per_minute())


def test_per_minute_names_a_bad_argument():
    figures = BusFigures()
    with pytest.raises(ValueError, match="61"):
        figures.per_minute(61)
    with pytest.raises(ValueError, match="0"):
        figures.per_minute(0)
    with pytest.raises(TypeError, match="'x'"):
        figures.per_minute("x")  # type: ignore[arg-type]


def test_the_dispatcher_counts_messages_in_their_minute():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing)
    dispatcher.twitter("order:paid")
    dispatcher.twitter("order:paid")

    rows = dispatcher.figures.per_minute(2)
    # The minute may have turned between the twitters and the read: both rows together.
    assert (sum(r[1] for r in rows), sum(r[2] for r in rows)) == (2, 2)
    assert rows[-1][0] == int(time.time() // 60) * 60


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_counts_from_zero():
    import os

    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", nothing)
    dispatcher.twitter("order:paid")
    dispatcher.figures._lock.acquire()  # as if another thread held it at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: fresh figures, and a lock nobody holds
            dispatcher.twitter("order:paid")
            rows = dispatcher.figures.per_minute(1)
            ok = (
                dispatcher.figures.sent == 1
                and figures_of(dispatcher, nothing).delivered == 1
                and rows[0][1] == 1
            )
            os._exit(0 if ok else 3)
    finally:
        dispatcher.figures._lock.release()
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() >= deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child hung on the figures' lock")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    assert dispatcher.figures.sent == 1  # the parent's own count


def test_a_twittered_message_is_stamped_with_the_wall_clock():
    dispatcher = Dispatcher()
    for timing in (True, False):
        dispatcher.configure(follower_timing=timing)
        before = time.time()
        message = dispatcher.twitter("order:paid")
        after = time.time()
        assert before - 0.01 <= message.timestamp <= after + 0.01


def test_a_step_of_the_wall_clock_is_followed_at_the_next_minute():
    dispatcher = Dispatcher()
    dispatcher.twitter("order:paid")
    figures = dispatcher.figures
    figures.wall_offset -= 3600  # as if the wall clock had been set an hour ahead since
    figures.minute_end = 0.0  # and the minute had turned
    dispatcher.twitter("order:paid")  # rolls the minute, measuring the offset anew

    message = dispatcher.twitter("order:paid")
    assert abs(message.timestamp - time.time()) < 0.01


def test_a_wall_clock_set_back_starts_the_minutes_afresh():
    clock = Clock(T0 + 600)
    figures = BusFigures(clock=clock)
    count(figures, T0 + 600, sent=4)
    clock.now = T0 + 1  # ten minutes back

    assert figures.per_minute(2) == [(int(T0) - 60, 0, 0, 0), (int(T0), 0, 0, 0)]
    count(figures, T0 + 2, sent=2)
    count(figures, T0 + 61, sent=1)  # the next minute turns as usual
    clock.now = T0 + 62
    assert figures.per_minute(2) == [(int(T0), 2, 0, 0), (int(T0) + 60, 1, 0, 0)]
