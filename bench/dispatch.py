"""Push delivery: twitter() against Django signals, blinker and a plain call.

Case ``dispatch``: one follower, receivers doing nothing. twitter() on the
module-level API must cost at most half of ``django.dispatch.Signal.send``
with one receiver. blinker and a direct function call are shown for context.

Case ``routing``: a private ``Dispatcher`` crowded with 10,000 followers on
other identifiers (9,000 exact, 1,000 wildcard) must deliver to the one
matching follower within 1.2x of a dispatcher holding only that follower:
the route cache has to make the crowd invisible.
"""

from __future__ import annotations

from itertools import repeat
from time import perf_counter_ns
from typing import Any

from bench.report import CaseResult, timing_pair
from bench.timing import Contender, Timing, measure

IDENT = "bench:ping"
CROWD_EXACT = 9_000
CROWD_WILDCARD = 1_000


# Receivers that do nothing, each with the signature its sender calls it with.
def _follower(message: Any) -> None:
    pass


def _django_receiver(signal: Any, sender: Any, **kwargs: Any) -> None:
    pass


def _blinker_receiver(sender: Any, **kwargs: Any) -> None:
    pass


def _plain(arg: Any) -> None:
    pass


def _time_twitter(twitter: Any) -> Any:
    def run(n: int) -> int:
        tw, ident = twitter, IDENT
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            tw(ident)
        return perf_counter_ns() - t0

    return run


def _time_send(send: Any) -> Any:
    def run(n: int) -> int:
        snd = send
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            snd(None)
        return perf_counter_ns() - t0

    return run


def _time_direct(n: int) -> int:
    fn, arg = _plain, IDENT
    t0 = perf_counter_ns()
    for _ in repeat(None, n):
        fn(arg)
    return perf_counter_ns() - t0


def anchor_contenders() -> list[Contender]:
    """Django Signal, blinker Signal and a direct call, each with one no-op receiver.

    Both signals are connected the way their docs show (the default weak=True);
    the receivers are module-level functions, so they stay alive.
    """
    import blinker
    from django.dispatch import Signal

    django_signal = Signal()
    django_signal.connect(_django_receiver)
    blinker_signal = blinker.Signal()
    blinker_signal.connect(_blinker_receiver)

    # Fail loudly rather than time a signal that delivers to nobody.
    assert len(django_signal.send(None)) == 1
    assert len(blinker_signal.send(None)) == 1
    return [
        Contender("django Signal.send, 1 receiver", _time_send(django_signal.send)),
        Contender("blinker Signal.send, 1 receiver", _time_send(blinker_signal.send)),
        Contender("direct function call", _time_direct),
    ]


class _Counter:
    """A follower that counts, used only to check routing before timing."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1


def _check_delivers_once(register: Any, unregister: Any, twitter: Any) -> None:
    counter = _Counter()
    register(IDENT, counter)
    try:
        twitter(IDENT)
    finally:
        unregister(counter)
    if counter.calls != 1:
        raise AssertionError(
            f"twitter({IDENT!r}) reached the matching follower {counter.calls} times, expected 1"
        )


def run_dispatch(*, n: int, rounds: int, warmup: int) -> tuple[list[CaseResult], dict[str, Timing]]:
    """Case 1: module-level twitter() with one follower against the anchors."""
    from berrymq_django import default_dispatcher, register_function, twitter, unregister

    with default_dispatcher.isolate():
        register_function(IDENT, _follower)
        _check_delivers_once(register_function, unregister, twitter)
        ours = Contender("berrymq twitter(), 1 function follower", _time_twitter(twitter))
        timings = measure([ours, *anchor_contenders()], n=n, rounds=rounds, warmup=warmup)
    t_ours, t_django, t_blinker, t_direct = timings.values()
    results = [
        timing_pair("dispatch", "1 twitter vs Signal.send (1 receiver)", t_ours, t_django, 0.5),
        timing_pair("dispatch_blinker", "  twitter vs blinker send", t_ours, t_blinker, None),
        timing_pair("dispatch_direct", "  twitter vs direct call", t_ours, t_direct, None),
    ]
    return results, timings


def _crowd(dispatcher: Any) -> None:
    """Subscribe 10,000 followers that never match IDENT, each a distinct function."""
    for i in range(CROWD_EXACT):
        dispatcher.register_function(f"other{i}:x{i}", _make_follower())
    for i in range(CROWD_WILDCARD):
        dispatcher.register_function(f"*:x{i}", _make_follower())


def _make_follower() -> Any:
    def follower(message: Any) -> None:
        pass

    return follower


def run_routing(*, n: int, rounds: int, warmup: int) -> tuple[list[CaseResult], dict[str, Timing]]:
    """Case 2: one matching follower among 10,000 others against a lone follower."""
    from berrymq_django.core.dispatcher import Dispatcher

    alone = Dispatcher()
    alone.register_function(IDENT, _follower)
    crowded = Dispatcher()
    _crowd(crowded)
    crowded.register_function(IDENT, _follower)  # last: the worst place for a scan
    for d in (alone, crowded):
        _check_delivers_once(d.register_function, d.unregister, d.twitter)

    timings = measure(
        [
            Contender("Dispatcher.twitter, 1 follower", _time_twitter(alone.twitter)),
            Contender(
                f"Dispatcher.twitter, 1 of {CROWD_EXACT + CROWD_WILDCARD + 1} followers",
                _time_twitter(crowded.twitter),
            ),
        ],
        n=n,
        rounds=rounds,
        warmup=warmup,
    )
    t_alone, t_crowded = timings.values()
    result = timing_pair("routing", "2 twitter among 10k followers vs 1", t_crowded, t_alone, 1.2)
    crowded.reset()
    alone.reset()
    return [result], timings
