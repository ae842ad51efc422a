"""The figures where tools read them: the status method, berrymq_followers, FOLLOWER_TIMING."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from berrymq_django import Message, default_dispatcher, register_function, twitter
from berrymq_django.checks import check_settings
from berrymq_django.introspection import follower_rows

from .conftest import berrymq_config
from .helpers import result, rpc


def boom(message: Message) -> None:
    raise ValueError("boom")


def nothing(message: Message) -> None:
    pass


def test_status_reports_the_message_totals(client: Client):
    register_function("order:paid", nothing)
    register_function("order:paid", boom)
    before = result(rpc(client, "status", []))["messages"]
    twitter("order:paid")
    twitter("order:paid")

    after = result(rpc(client, "status", []))["messages"]
    assert after == {
        "sent": before["sent"] + 2,
        "delivered": before["delivered"] + 2,
        "errors": before["errors"] + 2,
    }


def test_follower_rows_carry_the_figures():
    register_function("order:paid", nothing)
    register_function("order:paid", boom)
    twitter("order:paid")
    twitter("order:paid")

    ok, failing = follower_rows()
    assert (ok.delivered, ok.errors, ok.last_error) == (2, 0, None)
    assert ok.mean_seconds is not None and ok.mean_seconds > 0
    assert (failing.delivered, failing.errors) == (0, 2)
    assert failing.last_error == "ValueError: boom"
    assert failing.last_traceback is not None and "boom" in failing.last_traceback
    assert failing.last_error_at is not None


def test_berrymq_followers_shows_delivered_errors_and_mean():
    register_function("order:paid", nothing)
    register_function("order:paid", boom)
    for _ in range(3):
        twitter("order:paid")

    out = StringIO()
    call_command("berrymq_followers", stdout=out)
    header, ok, failing = out.getvalue().splitlines()[:3]
    assert header.split()[-3:] == ["DELIVERED", "ERRORS", "MEAN"]
    assert ok.split()[-3:-1] == ["3", "0"]
    assert ok.split()[-1].endswith("s")  # a duration: "850ns", "1.2µs"...
    assert failing.split()[-3:-1] == ["0", "3"]

    out = StringIO()
    call_command("berrymq_followers", "--format", "json", stdout=out)
    (entry,) = json.loads(out.getvalue())
    second = entry["followers"][1]
    assert (second["delivered"], second["errors"]) == (0, 3)
    assert second["last_error"] == "ValueError: boom"


def test_follower_timing_setting_reaches_the_dispatcher():
    assert default_dispatcher.follower_timing is True  # the default
    with berrymq_config(FOLLOWER_TIMING=False):
        assert default_dispatcher.follower_timing is False
        register_function("order:paid", nothing)
        twitter("order:paid")
        (row,) = follower_rows()
        assert row.delivered == 1
        assert row.mean_seconds is None  # not timed
    assert default_dispatcher.follower_timing is True


def test_a_malformed_follower_timing_is_a_system_check_error(monkeypatch: pytest.MonkeyPatch):
    # Set without setting_changed (the app would refuse to reconfigure with it), and
    # undone before the fixtures' override_settings ends.
    with monkeypatch.context() as patch:
        patch.setattr(settings, "BERRYMQ", {"FOLLOWER_TIMING": "no"})
        errors = check_settings()
    assert [e.msg for e in errors] == [
        "BERRYMQ setting 'FOLLOWER_TIMING' must be True or False, not 'no'."
    ]
