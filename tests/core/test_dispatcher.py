"""Delivery: who gets a message, in which order, and what happens when a follower fails."""

from __future__ import annotations

import logging

import pytest

from berrymq_django import Message, Queue, register_function, register_method, twitter
from berrymq_django.core.dispatcher import Dispatcher

from . import Recorder, dotted_name


def failing_follower(message):
    raise RuntimeError("follower exploded")


class Listener:
    def __init__(self, log):
        self.log = log

    def on_message(self, message):
        self.log.append("method")


# -- who receives ----------------------------------------------------------


def test_every_matching_follower_is_called():
    dispatcher = Dispatcher()
    exact, wildcard, everything = Recorder(), Recorder(), Recorder()
    dispatcher.register_function("order:paid", exact.fn)
    dispatcher.register_function("order", wildcard.fn)
    dispatcher.register_function("*", everything.fn)

    dispatcher.twitter("order:paid")

    assert (exact.count, wildcard.count, everything.count) == (1, 1, 1)


def test_non_matching_followers_are_not_called():
    dispatcher = Dispatcher()
    other_action, other_name = Recorder(), Recorder()
    dispatcher.register_function("order:refunded", other_action.fn)
    dispatcher.register_function("invoice:paid", other_name.fn)

    dispatcher.twitter("order:paid")

    assert (other_action.count, other_name.count) == (0, 0)


def test_twitter_returns_the_message_even_without_followers():
    message = Dispatcher().twitter("nobody:listens", 1)
    assert isinstance(message, Message)
    assert message.args == (1,)


def test_followers_are_called_in_registration_order():
    dispatcher = Dispatcher()
    log = []
    for tag in ["first", "second", "third", "fourth"]:
        dispatcher.register_function("a:b", Recorder(log=log, tag=tag).fn)
    dispatcher.twitter("a:b")
    assert log == ["first", "second", "third", "fourth"]


def test_registration_order_holds_across_different_patterns():
    # Registered from the broadest pattern to the exact one, so an index that
    # groups followers by pattern would reorder them.
    dispatcher = Dispatcher()
    log = []
    for pattern in ["*", "*:b", "a", "a:b", "*:*", "a:*"]:
        dispatcher.register_function(pattern, Recorder(log=log, tag=pattern).fn)
    dispatcher.twitter("a:b")
    dispatcher.twitter("*:b")
    assert log == ["*", "*:b", "a", "a:b", "*:*", "a:*"] * 2


def test_functions_methods_and_queues_are_delivered_in_registration_order():
    # Queue always uses the default dispatcher, so this test does too.
    log = []
    queue_seen_by = {}

    def before_queue(message):
        log.append("function-1")
        queue_seen_by["function-1"] = queue.qsize()

    def after_queue(message):
        log.append("function-2")
        queue_seen_by["function-2"] = queue.qsize()

    listener = Listener(log)
    register_function("a:b", before_queue)
    queue = Queue("a:b")
    register_method("a:b", listener.on_message)
    register_function("a:b", after_queue)

    twitter("a:b")

    assert log == ["function-1", "method", "function-2"]
    assert queue_seen_by == {"function-1": 0, "function-2": 1}


def test_guard_condition_false_skips_only_that_follower():
    dispatcher = Dispatcher()
    guarded, unguarded = Recorder(), Recorder()
    dispatcher.register_function("a:b", guarded.fn, guard_condition=lambda m: m.args[0] > 5)
    dispatcher.register_function("a:b", unguarded.fn)

    dispatcher.twitter("a:b", 1)
    dispatcher.twitter("a:b", 10)

    assert [m.args for m in guarded.messages] == [(10,)]
    assert [m.args for m in unguarded.messages] == [(1,), (10,)]


def test_guard_condition_receives_the_message():
    dispatcher = Dispatcher()
    seen = []
    dispatcher.register_function("a:b", Recorder().fn, guard_condition=seen.append)
    message = dispatcher.twitter("a:b", 1)
    assert [m.uid for m in seen] == [message.uid]


# -- failing followers -----------------------------------------------------


def test_failing_follower_does_not_stop_delivery_to_the_others():
    dispatcher = Dispatcher()
    before, after = Recorder(), Recorder()
    dispatcher.register_function("a:b", before.fn)
    dispatcher.register_function("a:b", failing_follower)
    dispatcher.register_function("a:b", after.fn)

    message = dispatcher.twitter("a:b")

    assert isinstance(message, Message)
    assert (before.count, after.count) == (1, 1)


def test_follower_error_is_logged_with_identifier_and_dotted_name(caplog):
    dispatcher = Dispatcher()
    dispatcher.register_function("crash:now", failing_follower)

    with caplog.at_level(logging.DEBUG, logger="berrymq"):
        dispatcher.twitter("crash:now")

    records = [r for r in caplog.records if r.name == "berrymq"]
    assert records, "nothing was logged on the 'berrymq' logger"
    text = " ".join(r.getMessage() for r in records)
    assert "crash:now" in text
    assert dotted_name(failing_follower) in text
    assert any(r.levelno >= logging.WARNING for r in records)


def test_follower_errors_are_counted():
    dispatcher = Dispatcher()
    dispatcher.register_function("a:b", failing_follower)
    assert dispatcher.error_count == 0
    dispatcher.twitter("a:b")
    dispatcher.twitter("a:b")
    assert dispatcher.error_count == 2


def test_raise_errors_propagates_the_follower_exception():
    dispatcher = Dispatcher(raise_errors=True)
    dispatcher.register_function("a:b", failing_follower)
    with pytest.raises(RuntimeError, match="follower exploded"):
        dispatcher.twitter("a:b")


def test_configure_raise_errors_at_run_time():
    dispatcher = Dispatcher()
    dispatcher.register_function("a:b", failing_follower)
    dispatcher.configure(raise_errors=True)
    assert dispatcher.raise_errors is True
    with pytest.raises(RuntimeError):
        dispatcher.twitter("a:b")
    dispatcher.configure(raise_errors=False)
    dispatcher.twitter("a:b")
    assert dispatcher.error_count == 1


def test_configure_node_name_changes_message_origin():
    dispatcher = Dispatcher(node_name="before")
    dispatcher.configure(node_name="after")
    assert dispatcher.node_name == "after"
    assert dispatcher.twitter("a:b").origin == "after"


# -- subscriptions ---------------------------------------------------------


def test_unregister_stops_delivery_and_returns_true():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("a:b", rec.fn)
    assert dispatcher.unregister(rec.fn) is True
    dispatcher.twitter("a:b")
    assert rec.count == 0


def test_unregister_returns_false_for_unknown_follower():
    dispatcher = Dispatcher()
    rec = Recorder()
    assert dispatcher.unregister(rec.fn) is False
    dispatcher.register_function("a:b", rec.fn)
    assert dispatcher.unregister(rec.fn) is True
    assert dispatcher.unregister(rec.fn) is False


def test_unregister_a_bound_method():
    dispatcher = Dispatcher()
    log = []
    listener = Listener(log)
    dispatcher.register_method("a:b", listener.on_message)
    # A fresh bound method object compares equal to the registered one.
    assert dispatcher.unregister(listener.on_message) is True
    dispatcher.twitter("a:b")
    assert log == []


def test_unregister_only_removes_the_given_follower():
    dispatcher = Dispatcher()
    removed, kept = Recorder(), Recorder()
    dispatcher.register_function("a:b", removed.fn)
    dispatcher.register_function("a:b", kept.fn)
    dispatcher.unregister(removed.fn)
    dispatcher.twitter("a:b")
    assert (removed.count, kept.count) == (0, 1)


def test_registering_after_a_send_is_seen_by_the_next_send():
    # The route cache must be invalidated by every subscribe/unsubscribe.
    dispatcher = Dispatcher()
    early, late = Recorder(), Recorder()
    dispatcher.register_function("a:b", early.fn)
    dispatcher.twitter("a:b")
    dispatcher.register_function("a:*", late.fn)
    dispatcher.twitter("a:b")
    dispatcher.unregister(early.fn)
    dispatcher.twitter("a:b")
    assert (early.count, late.count) == (2, 2)


def test_reset_removes_every_subscription_and_counter():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("a:b", rec.fn)
    dispatcher.register_function("a:b", failing_follower)
    dispatcher.twitter("a:b")
    dispatcher.reset()
    dispatcher.twitter("a:b")
    assert rec.count == 1
    assert dispatcher.error_count == 0
    assert dispatcher.show_followers() == []


def test_isolate_hides_then_restores_subscriptions():
    dispatcher = Dispatcher()
    outer, inner = Recorder(), Recorder()
    dispatcher.register_function("a:b", outer.fn)

    with dispatcher.isolate():
        dispatcher.twitter("a:b")
        dispatcher.register_function("a:b", inner.fn)
        dispatcher.twitter("a:b")

    dispatcher.twitter("a:b")
    assert outer.count == 1
    assert inner.count == 1


# -- send_many: a batch from elsewhere, delivered here and handed onward together -----


class _OneByOne:
    """A relay that takes messages one at a time."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def relay(self, message: Message) -> None:
        self.calls.append(message.id)


class _Batches(_OneByOne):
    """A relay that also takes batches."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def relay_many(self, messages: list[Message]) -> None:
        self.batches.append([m.id for m in messages])
        self.args = [m.args for m in messages]


def test_send_many_delivers_in_order_and_relays_a_batch_in_one_call():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("job:*", rec.fn)
    one, many = _OneByOne(), _Batches()
    dispatcher.add_relay(one)
    dispatcher.add_relay(many)
    sent = [Message("job:a", (1,), None, "peer"), Message("_job:local", (), None, "peer")]
    sent += [Message("job:b", (2,), None, "peer")]
    dispatcher.send_many(sent)
    assert rec.ids == ["job:a", "job:b"]  # "_job:local" matches no "job:*" follower
    assert many.batches == [["job:a", "job:b"]]  # the local one never leaves the process
    assert many.calls == []
    assert one.calls == ["job:a", "job:b"]


def test_send_many_hands_onward_what_was_delivered_before_a_follower_error_reached_it():
    dispatcher = Dispatcher(raise_errors=True)
    many = _Batches()
    dispatcher.add_relay(many)

    def picky(message: Message) -> None:
        if message.args == (2,):
            raise ValueError("two")

    dispatcher.register_function("job:run", picky)
    with pytest.raises(ValueError, match="two"):
        dispatcher.send_many([Message("job:run", (i,), None, "peer") for i in range(4)])
    assert many.args == [(0,), (1,)]  # 0 and 1 went on; 2 raised to the sender


def test_a_relay_that_fails_on_a_batch_is_logged_and_the_others_still_get_it(caplog):
    dispatcher = Dispatcher()

    class Broken(_Batches):
        def relay_many(self, messages: list[Message]) -> None:
            raise RuntimeError("link gone")

    many = _Batches()
    dispatcher.add_relay(Broken())
    dispatcher.add_relay(many)
    with caplog.at_level(logging.ERROR, logger="berrymq"):
        dispatcher.send_many([Message("job:a", (), None, "peer")])
    assert many.batches == [["job:a"]]
    assert "failed on 1 message(s)" in caplog.text
