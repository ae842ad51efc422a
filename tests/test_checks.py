"""berrymq_django.checks: what ``manage.py check`` reports about BERRYMQ and its surroundings.

Most cases run the checks under ``override_settings``. A value that start-up code
refuses (BACKEND, MULTIPLICITY, PEERS...) cannot get through override_settings,
whose setting_changed handlers apply it at once and raise ImproperlyConfigured; those
cases set the raw value with ``raw_berrymq`` to see what the check says about it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from berrymq_django.checks import MIN_API_KEY_LENGTH, did_you_mean

RawBerryMQ = Callable[[Any], None]


def berrymq_messages(**kwargs: Any) -> list[Any]:
    """Run every registered check; return only berrymq_django's messages."""
    return [m for m in run_checks(**kwargs) if m.id.startswith("berrymq_django.")]


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


@pytest.fixture
def raw_berrymq(monkeypatch: pytest.MonkeyPatch) -> RawBerryMQ:
    """Set settings.BERRYMQ without sending setting_changed (restored after the test)."""

    def set_raw(value: Any) -> None:
        monkeypatch.setattr(settings, "BERRYMQ", value)

    return set_raw


def test_the_test_settings_pass() -> None:
    assert berrymq_messages() == []


def test_manage_py_check_shows_berrymq_errors() -> None:
    with (
        override_settings(BERRYMQ={"RAISE_ERROR": True}),
        pytest.raises(SystemCheckError, match=r"berrymq_django\.E001.*RAISE_ERROR"),
    ):
        call_command("check")


# --- E001 unknown keys --------------------------------------------------------------


@pytest.mark.parametrize("key", ["RAISE_ERROR", "raise_errors", "RAISE_ERORRS"])
def test_unknown_key_is_an_error_with_a_did_you_mean_hint(key: str) -> None:
    with override_settings(BERRYMQ={key: True}):
        messages = berrymq_messages()
    assert messages == [
        Error(
            f"Unknown key {key!r} in the BERRYMQ setting.",
            hint="Did you mean 'RAISE_ERRORS'?",
            id="berrymq_django.E001",
        )
    ]


def test_unknown_key_far_from_any_lists_the_valid_keys() -> None:
    with override_settings(BERRYMQ={"COLOUR": "red"}):
        [message] = berrymq_messages()
    assert message.id == "berrymq_django.E001"
    assert message.hint.startswith("Valid keys are: NODE_NAME, BACKEND, ")


def test_unknown_keys_do_not_stop_valid_keys_from_applying() -> None:
    with override_settings(BERRYMQ={"NODE_NAME": "web-7", "NODENAME": "typo"}):
        from berrymq_django import default_dispatcher

        assert default_dispatcher.node_name == "web-7"
        assert ids(berrymq_messages()) == ["berrymq_django.E001"]


def test_did_you_mean_ignores_case_and_gives_up_when_nothing_is_close() -> None:
    assert did_you_mean("multiplicty", ["MULTIPLICITY", "MODEL_EVENTS"]) == "MULTIPLICITY"
    assert did_you_mean("xyz", ["MULTIPLICITY"]) is None


# --- E002, E003 shape and values ------------------------------------------------------


def test_berrymq_that_is_no_dict_is_an_error(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq(["NODE_NAME"])
    [message] = berrymq_messages()
    assert message.id == "berrymq_django.E002"
    assert message.msg == "The BERRYMQ setting must be a dict, not list (['NODE_NAME'])."


@pytest.mark.parametrize(
    ("conf", "text"),
    [
        ({"ALLOW_ANONYMOUS": "yes"}, "'ALLOW_ANONYMOUS' must be True or False, not 'yes'."),
        ({"MAX_BATCH": -1}, "'MAX_BATCH' must be an int of 0 or more, not -1."),
        (
            {"API_KEYS": ["k"]},
            "'API_KEYS' must be a dict of principal name to key string, not a list.",
        ),
    ],
)
def test_malformed_value_names_the_key_and_value(conf: dict[str, Any], text: str) -> None:
    with override_settings(BERRYMQ=conf):
        [message] = berrymq_messages()
    assert message.id == "berrymq_django.E003"
    assert text in message.msg


def test_malformed_startup_value_is_reported_too(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq({"MULTIPLICITY": "4", "AUTODISCOVER": "receivers"})
    messages = berrymq_messages()
    assert ids(messages) == ["berrymq_django.E003", "berrymq_django.E003"]
    assert "'MULTIPLICITY' must be an int of 0 or more, not '4'" in messages[0].msg
    assert "'AUTODISCOVER' must be a list of module names, not 'receivers'" in messages[1].msg


# --- E004 import strings -----------------------------------------------------------------


def test_import_string_that_does_not_import_is_an_error() -> None:
    bad = "berrymq_django.authentication.NoSuchAuthentication"
    conf = {"AUTHENTICATION_CLASSES": [bad, "rest_framework.authentication.BasicAuthentication"]}
    with override_settings(BERRYMQ=conf):
        [message] = berrymq_messages()
    assert message.id == "berrymq_django.E004"
    assert message.msg.startswith(
        f"Could not import {bad!r} for BERRYMQ setting 'AUTHENTICATION_CLASSES'"
    )


def test_backend_that_does_not_import_is_an_error(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq({"BACKEND": "nowhere.Backend"})
    [message] = berrymq_messages()
    assert message.id == "berrymq_django.E004"
    assert "'nowhere.Backend' for BERRYMQ setting 'BACKEND'" in message.msg


def test_classes_given_as_objects_need_no_import() -> None:
    from rest_framework.throttling import AnonRateThrottle

    with override_settings(BERRYMQ={"THROTTLE_CLASSES": [AnonRateThrottle]}):
        assert berrymq_messages() == []


# --- E005 peers -------------------------------------------------------------------------


def test_malformed_identifiers_in_peers_are_errors(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq(
        {
            "PEERS": {
                "site-b": {"URL": "http://b.example/", "FORWARD": ["order:*", "order created"]},
                "site-c": {"URL": "http://c.example/", "STYLE": "queue", "QUEUE": "a:b:c"},
            }
        }
    )
    messages = berrymq_messages()
    assert ids(messages) == ["berrymq_django.E005", "berrymq_django.E005"]
    assert "['site-b']['FORWARD']" in messages[0].msg
    assert "'order created'" in messages[0].msg
    assert "whitespace" in messages[0].msg
    assert "['site-c']['QUEUE']" in messages[1].msg
    assert "'a:b:c'" in messages[1].msg


# --- E006 model events ----------------------------------------------------------------------


def test_model_events_for_an_unknown_model_is_an_error(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq({"MODEL_EVENTS": ["shop.Ordr", "shop.Order"]})
    [message] = berrymq_messages()
    assert message.id == "berrymq_django.E006"
    assert "'MODEL_EVENTS' names 'shop.Ordr', which is not an installed model" in message.msg
    assert message.hint == "Did you mean 'shop.Order'?"


def test_model_events_label_without_a_dot_is_an_error(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq({"MODEL_EVENTS": ["Order"]})
    assert ids(berrymq_messages()) == ["berrymq_django.E006"]


# --- E007 rest_framework ---------------------------------------------------------------------


def test_missing_rest_framework_is_an_error() -> None:
    without = [app for app in settings.INSTALLED_APPS if app != "rest_framework"]
    with override_settings(INSTALLED_APPS=without):
        messages = berrymq_messages()
    assert ids(messages) == ["berrymq_django.E007"]
    assert 'add "rest_framework" to INSTALLED_APPS' in messages[0].hint


# --- W001, W002 security -------------------------------------------------------------------


def test_anonymous_access_without_debug_is_a_security_warning() -> None:
    with override_settings(DEBUG=False, BERRYMQ={"ALLOW_ANONYMOUS": True}):
        messages = berrymq_messages()
        assert ids(berrymq_messages(tags=["security"])) == ["berrymq_django.W001"]
    assert ids(messages) == ["berrymq_django.W001"]
    assert isinstance(messages[0], Warning)


def test_anonymous_access_is_fine_while_debugging() -> None:
    with override_settings(DEBUG=True, BERRYMQ={"ALLOW_ANONYMOUS": True}):
        assert berrymq_messages() == []


def test_short_api_key_without_debug_is_a_security_warning() -> None:
    keys = {"site-b": "x" * (MIN_API_KEY_LENGTH - 1), "site-c": "y" * MIN_API_KEY_LENGTH}
    with override_settings(DEBUG=False, BERRYMQ={"API_KEYS": keys}):
        [message] = berrymq_messages()
    assert message.id == "berrymq_django.W002"
    assert "'site-b'" in message.msg
    assert str(MIN_API_KEY_LENGTH - 1) in message.msg


def test_a_peer_without_a_url_is_an_error(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq({"PEERS": {"site-b": {"STYLE": "oneway"}}})
    [message] = berrymq_messages()
    assert message.id == "berrymq_django.E005"
    assert "['site-b']['URL'] must be an http(s) URL, not None" in message.msg


@pytest.mark.parametrize("name", ["anonymous", "user:alice", "peer:site-b"])
def test_an_api_key_named_like_another_principal_is_an_error(
    raw_berrymq: RawBerryMQ, name: str
) -> None:
    raw_berrymq({"API_KEYS": {name: "k" * 40, "site-b": "b" * 40}})
    [message] = berrymq_messages()
    assert message.id == "berrymq_django.E008"
    assert repr(name) in message.msg
