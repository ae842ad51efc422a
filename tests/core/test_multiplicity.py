"""set_multiplicity(n): deliveries on a pool of n threads, 0 = synchronous."""

from __future__ import annotations

import threading

import pytest

from berrymq_django import register_function, set_multiplicity, twitter
from berrymq_django.core.dispatcher import Dispatcher

from . import DEADLINE, Recorder


@pytest.fixture
def dispatcher():
    """A fresh Dispatcher whose pool is always shut down (multiplicity 0) afterwards."""
    dispatcher = Dispatcher()
    yield dispatcher
    dispatcher.set_multiplicity(0)


def test_twitter_returns_before_a_slow_follower_finishes(dispatcher):
    release, finished = threading.Event(), threading.Event()

    def slow(message):
        release.wait(DEADLINE)
        finished.set()

    dispatcher.register_function("a:b", slow)
    dispatcher.set_multiplicity(2)

    dispatcher.twitter("a:b")

    assert not finished.is_set(), "twitter waited for the follower"
    release.set()
    assert finished.wait(DEADLINE)


def test_every_delivery_happens_and_multiplicity_zero_waits_for_them(dispatcher):
    rec = Recorder()
    dispatcher.register_function("a:b", rec.fn)
    dispatcher.set_multiplicity(2)

    sent = {dispatcher.twitter("a:b", i).uid for i in range(200)}
    dispatcher.set_multiplicity(0)

    assert sorted(m.uid for m in rec.messages) == sorted(sent)


def test_deliveries_run_off_the_sending_thread(dispatcher):
    threads = []
    done = threading.Event()

    def follower(message):
        threads.append(threading.get_ident())
        done.set()

    dispatcher.register_function("a:b", follower)
    dispatcher.set_multiplicity(1)
    dispatcher.twitter("a:b")
    assert done.wait(DEADLINE)
    assert threads != [threading.get_ident()]


def test_n_threads_deliver_concurrently(dispatcher):
    # Both deliveries must be inside the follower at once to pass the barrier.
    barrier = threading.Barrier(2, timeout=DEADLINE)
    passed = []

    def follower(message):
        barrier.wait()
        passed.append(message.args[0])

    dispatcher.register_function("a:b", follower)
    dispatcher.set_multiplicity(2)
    dispatcher.twitter("a:b", 1)
    dispatcher.twitter("a:b", 2)
    dispatcher.set_multiplicity(0)

    assert sorted(passed) == [1, 2]
    assert dispatcher.error_count == 0


def test_multiplicity_zero_is_synchronous_again(dispatcher):
    threads = []
    dispatcher.register_function("a:b", lambda message: threads.append(threading.get_ident()))
    dispatcher.set_multiplicity(2)
    dispatcher.set_multiplicity(0)

    dispatcher.twitter("a:b")

    assert threads == [threading.get_ident()]


def test_errors_in_pooled_deliveries_are_counted(dispatcher):
    def failing(message):
        raise RuntimeError("pooled follower exploded")

    dispatcher.register_function("a:b", failing)
    dispatcher.set_multiplicity(2)
    dispatcher.twitter("a:b")
    dispatcher.set_multiplicity(0)
    assert dispatcher.error_count == 1


def test_module_level_set_multiplicity_drives_the_default_dispatcher():
    release, finished = threading.Event(), threading.Event()

    def slow(message):
        release.wait(DEADLINE)
        finished.set()

    register_function("a:b", slow)
    set_multiplicity(2)
    try:
        twitter("a:b")
        assert not finished.is_set()
        release.set()
    finally:
        release.set()
        set_multiplicity(0)
    assert finished.is_set()


@pytest.mark.parametrize("bad", [-1, -10])
def test_negative_multiplicity_raises_value_error(dispatcher, bad):
    with pytest.raises(ValueError):
        dispatcher.set_multiplicity(bad)


@pytest.mark.parametrize("bad", ["2", 1.5, None])
def test_non_integer_multiplicity_is_rejected(dispatcher, bad):
    with pytest.raises((TypeError, ValueError)):
        dispatcher.set_multiplicity(bad)
