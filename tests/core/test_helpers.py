"""auto_twitter and twitter_exception decorators."""

from __future__ import annotations

import pytest

from berrymq_django import auto_twitter, following_function, twitter_exception


@pytest.fixture
def calc_log():
    """Record (action, args, kwargs) of every "calc:*" message on the default dispatcher."""
    log = []

    @following_function("calc")
    def record(message):
        log.append((message.action, message.args, message.kwargs))

    return log


# -- auto_twitter ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "actions"),
    [
        ({}, ["entry", "exit"]),
        ({"entry": True, "exit": True}, ["entry", "exit"]),
        ({"entry": True}, ["entry"]),
        ({"exit": True}, ["exit"]),
    ],
)
def test_auto_twitter_flags_choose_entry_and_exit_messages(calc_log, flags, actions):
    @auto_twitter("calc", **flags)
    def add(a, b):
        return a + b

    add(1, 2)
    assert [action for action, _, _ in calc_log] == actions


def test_auto_twitter_messages_carry_the_call_arguments(calc_log):
    @auto_twitter("calc")
    def add(a, b, scale=1):
        return (a + b) * scale

    add(1, 2, scale=3)
    assert calc_log == [("entry", (1, 2), {"scale": 3}), ("exit", (1, 2), {"scale": 3})]


def test_auto_twitter_keeps_the_return_value(calc_log):
    @auto_twitter("calc")
    def add(a, b):
        return a + b

    assert add(1, 2) == 3


def test_auto_twitter_sends_entry_before_and_exit_after_the_call(calc_log):
    @auto_twitter("calc")
    def body():
        calc_log.append(("body", (), {}))

    body()
    assert [action for action, _, _ in calc_log] == ["entry", "body", "exit"]


def test_auto_twitter_keeps_the_function_name():
    @auto_twitter("calc")
    def add(a, b):
        return a + b

    assert add.__name__ == "add"


# -- twitter_exception -----------------------------------------------------


@pytest.fixture
def error_log():
    """Record every "errors:caught" message on the default dispatcher."""
    log = []

    @following_function("errors:caught")
    def record(message):
        log.append(message)

    return log


def raise_value_error():
    raise ValueError("bad input")


def test_twitter_exception_sends_the_exception_with_traceback_text(error_log):
    decorated = twitter_exception("errors:caught")(raise_value_error)

    assert decorated() is None

    (message,) = error_log
    (exc,) = message.args
    assert isinstance(exc, ValueError)
    assert str(exc) == "bad input"
    traceback_text = message.kwargs["traceback"]
    assert isinstance(traceback_text, str)
    assert "ValueError: bad input" in traceback_text
    assert "raise_value_error" in traceback_text


def test_twitter_exception_without_traceback_sends_none(error_log):
    decorated = twitter_exception("errors:caught", with_traceback=False)(raise_value_error)
    decorated()
    (message,) = error_log
    assert message.kwargs == {"traceback": None}


def test_twitter_exception_reraise_sends_then_raises(error_log):
    decorated = twitter_exception("errors:caught", reraise=True)(raise_value_error)
    with pytest.raises(ValueError, match="bad input"):
        decorated()
    assert len(error_log) == 1


def test_twitter_exception_passes_return_value_and_sends_nothing_on_success(error_log):
    @twitter_exception("errors:caught")
    def fine(a, b=0):
        return a + b

    assert fine(1, b=2) == 3
    assert error_log == []


def test_twitter_exception_does_not_catch_base_exceptions(error_log):
    @twitter_exception("errors:caught")
    def leave():
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        leave()
    assert error_log == []
