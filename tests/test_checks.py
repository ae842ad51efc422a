"""berrymq_django.checks: what ``manage.py check`` reports about BERRYMQ and its surroundings.

Most cases run the checks in this process, under ``override_settings``; a real
``python -m django check`` and start-up run in subprocesses, on the settings of
the peering tests' sites (tests/peering/site_settings.py), which read BERRYMQ
keys from the environment.

In this process A value that start-up code
refuses (BACKEND, MULTIPLICITY, PEERS...) cannot get through override_settings,
whose setting_changed handlers apply it at once and raise ImproperlyConfigured; those
cases set the raw value with ``raw_berrymq`` to see what the check says about it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
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
        ({"MAX_BATCH": -1}, "'MAX_BATCH' must be a positive int, not -1."),
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
    assert "['site-b']['URL'] None is not a string: give an http(s) URL" in message.msg


@pytest.mark.parametrize("name", ["anonymous", "user:alice", "peer:site-b"])
def test_an_api_key_named_like_another_principal_is_an_error(
    raw_berrymq: RawBerryMQ, name: str
) -> None:
    raw_berrymq({"API_KEYS": {name: "k" * 40, "site-b": "b" * 40}})
    [message] = berrymq_messages()
    assert message.id == "berrymq_django.E008"
    assert repr(name) in message.msg


# --- every key, every kind of bad value --------------------------------------------------

E003, E004, E005 = "berrymq_django.E003", "berrymq_django.E004", "berrymq_django.E005"
E006, E008, E009, E010 = (
    "berrymq_django.E006",
    "berrymq_django.E008",
    "berrymq_django.E009",
    "berrymq_django.E010",
)
PEER = {"URL": "http://b.example/berrymq/rpc/", "STYLE": "oneway"}
SECRET = "s3cret-0123456789abcdef0123456789abcdef"

# (settings, the check's id, what its message must name). Each value alone is wrong.
BAD_SETTINGS: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"NODE_NAME": 42}, E003, ["'NODE_NAME'", "42"]),
    ({"NODE_NAME": "  "}, E003, ["'NODE_NAME'", "'  '"]),
    ({"BACKEND": 42}, E003, ["'BACKEND'", "42"]),
    ({"BACKEND": "nowhere.Backend"}, E004, ["'BACKEND'", "'nowhere.Backend'"]),
    ({"BACKEND": "os.path.join"}, E004, ["'BACKEND'", "'os.path.join'", "backend class"]),
    ({"BACKEND_OPTIONS": f"redis://:{SECRET}@cache"}, E003, ["'BACKEND_OPTIONS'", "a str"]),
    ({"BACKEND_OPTIONS": {"URL": "redis://x"}}, E009, ["'BACKEND_OPTIONS'", "MemoryBackend"]),
    ({"AUTODISCOVER": "receivers"}, E003, ["'AUTODISCOVER'", "'receivers'"]),
    ({"AUTODISCOVER": ["my receivers"]}, E003, ["'AUTODISCOVER'", "'my receivers'"]),
    ({"RAISE_ERRORS": "yes"}, E003, ["'RAISE_ERRORS'", "'yes'"]),
    ({"MULTIPLICITY": "four"}, E003, ["'MULTIPLICITY'", "'four'"]),
    ({"MULTIPLICITY": -1}, E003, ["'MULTIPLICITY'", "-1"]),
    ({"FOLLOWER_TIMING": "on"}, E003, ["'FOLLOWER_TIMING'", "'on'"]),
    ({"METRICS_PUBLIC": 1}, E003, ["'METRICS_PUBLIC'", "1"]),
    ({"MODEL_EVENTS": "shop.Order"}, E003, ["'MODEL_EVENTS'", "'shop.Order'"]),
    ({"MODEL_EVENTS": ["shop.Ordr"]}, E006, ["'MODEL_EVENTS'", "'shop.Ordr'"]),
    ({"API_KEYS": {"site-b": 123}}, E003, ["API keys that are not strings for 'site-b'"]),
    ({"API_KEYS": {"site-b": f" {SECRET}"}}, E003, ["'API_KEYS'", "'site-b'", "spaces"]),
    ({"API_KEYS": {"site-b": SECRET, "site-c": SECRET}}, E003, ["'site-b'", "'site-c'", "same"]),
    ({"API_KEYS": {"anonymous": SECRET}}, E008, ["'API_KEYS'", "'anonymous'"]),
    ({"ALLOW_ANONYMOUS": 1}, E003, ["'ALLOW_ANONYMOUS'", "1"]),
    ({"AUTHENTICATION_CLASSES": "x.Auth"}, E003, ["'AUTHENTICATION_CLASSES'", "'x.Auth'"]),
    ({"AUTHENTICATION_CLASSES": ["x.Auth"]}, E004, ["'AUTHENTICATION_CLASSES'", "'x.Auth'"]),
    (
        {"AUTHENTICATION_CLASSES": ["berrymq_django.permissions.IsBerryMQClient"]},
        E004,
        ["'AUTHENTICATION_CLASSES'", "IsBerryMQClient'", "authentication class"],
    ),
    (
        {"PERMISSION_CLASSES": ["berrymq_django.authentication.APIKeyAuthentication"]},
        E004,
        ["'PERMISSION_CLASSES'", "APIKeyAuthentication'", "permission class"],
    ),
    (
        {"THROTTLE_CLASSES": ["rest_framework.permissions.AllowAny"]},
        E004,
        ["'THROTTLE_CLASSES'", "AllowAny'", "throttle class"],
    ),
    ({"THROTTLE_CLASSES": [None]}, E003, ["'THROTTLE_CLASSES'", "[None]"]),
    *[
        ({key: value}, E003, [repr(key), repr(value)])
        for key in (
            "MAX_BODY_BYTES",
            "MAX_BATCH",
            "MAX_DEPTH",
            "MAX_IDENTIFIER_LENGTH",
            "MAX_MESSAGES_PER_CALL",
            "MAX_INTERCONNECTS",
            "QUEUE_MAXSIZE",
        )
        for value in (0, -1, "10", 2.5, True)
    ],
    *[
        ({key: value}, E003, [repr(key), repr(value)])
        for key in ("MAX_POLL_SECONDS", "DEDUP_SECONDS")
        for value in (0, -1.5, "25", float("nan"), float("inf"), 10**9)
    ],
    *[
        ({"GROUP_CLAIM_SECONDS": value}, E003, ["'GROUP_CLAIM_SECONDS'", repr(value)])
        for value in (0, 0.1, -1, "30", float("nan"), True, 10**9)
    ],
    *[
        ({key: value}, E003, [repr(key), repr(value)])
        for key in ("GROUP_MAX_ATTEMPTS", "GROUP_MAXLEN", "GROUP_DEAD_LETTERS")
        for value in (0, -1, "3", 2.5, True)
    ],
    ({"GROUP_MAX_ATTEMPTS": 101}, E003, ["'GROUP_MAX_ATTEMPTS'", "101"]),
    # What the endpoint accepts, a get must write back: answers stop at 254 levels.
    ({"MAX_DEPTH": 251}, E003, ["'MAX_DEPTH'", "an int from 1 to 250", "not 251"]),
    ({"SELF_URL": "b.example/berrymq/rpc/"}, E003, ["'SELF_URL'", "'b.example/berrymq/rpc/'"]),
    ({"SELF_URL": "http://"}, E003, ["'SELF_URL'", "'http://'"]),
    # One rule for every URL a setting holds (rpc/urls.py): what a parser refuses too.
    *[
        ({"SELF_URL": url}, E003, ["'SELF_URL'", repr(url), "a port from 1 to 65535"])
        for url in ("http://b.example:99999/", "http://b.example:0/", "http://[::1/")
    ],
    ({"PEERS": {"b": {**PEER, "URL": "http://b.example:65536/"}}}, E005, ["names port 65536"]),
    ({"PEERS": {"b": {**PEER, "URL": "http:///berrymq/rpc/"}}}, E005, ["with a host"]),
    ({"PEERS": {"b": {**PEER, "URL": "http://[::1/"}}}, E005, ["'http://[::1/' is not a URL"]),
    ({"PEERS": {"b": {**PEER, "URL": "ftp://b.example/"}}}, E005, ["'ftp://b.example/'"]),
    # A password in the URL is never echoed, even when the URL is wrong.
    ({"PEERS": {"b": {**PEER, "URL": "http://u:pw@b:0/"}}}, E005, ["'http://u:***@b:0/'"]),
    ({"PEERS": ["site-b"]}, E003, ["'PEERS'", "a list"]),
    ({"PEERS": {"site-b": {**PEER, "API_KEY": 5}}}, E005, ["['site-b']['API_KEY']", "5"]),
    # The key goes in a header: a non-ASCII or space-bearing one is named, never echoed.
    ({"PEERS": {"site-b": {**PEER, "API_KEY": "key with é"}}}, E005, ["['API_KEY']", "ASCII"]),
    ({"PEERS": {"site-b": {**PEER, "API_KEY": "k" * 32 + "\n"}}}, E005, ["['API_KEY']"]),
    ({"BACKEND": "tests.testapp.broken_backend.Backend"}, E004, ["'BACKEND'", "RuntimeError"]),
    ({"PEERS": {"site-b": {**PEER, "STYLE": "interconnect"}}}, E010, ["['site-b']", "SELF_URL"]),
    ({"OUTBOX": True}, E003, ["'OUTBOX'", "True"]),
    ({"OUTBOX": {"ENABLED": "yes"}}, E003, ["'OUTBOX'", "['ENABLED']", "'yes'"]),
    ({"OUTBOX": {"BATCH": 0}}, E003, ["'OUTBOX'", "['BATCH']", "0"]),
    ({"OUTBOX": {"RETENTION_SECONDS": -1}}, E003, ["['RETENTION_SECONDS']", "-1"]),
    ({"OUTBOX": {"POLL_SECONDS": "1"}}, E003, ["['POLL_SECONDS']", "'1'"]),
    ({"OUTBOX": {"BATCHES": 5}}, E003, ["'OUTBOX'", "BATCHES", "BATCH"]),
    ({"OUTBOX": {"DATABASE": "elsewhere"}}, "berrymq_django.E011", ["'elsewhere'", "DATABASES"]),
]


def test_the_table_has_a_bad_value_for_every_key() -> None:
    from berrymq_django.conf import DEFAULTS

    assert {key for conf, _, _ in BAD_SETTINGS for key in conf} == set(DEFAULTS)


@pytest.mark.parametrize(
    ("conf", "check_id", "named"),
    BAD_SETTINGS,
    ids=[f"{next(iter(conf))}={next(iter(conf.values()))!r}" for conf, _, _ in BAD_SETTINGS],
)
def test_every_bad_value_is_one_check_message_naming_key_and_value(
    raw_berrymq: RawBerryMQ, conf: dict[str, Any], check_id: str, named: list[str]
) -> None:
    raw_berrymq(conf)
    [message] = berrymq_messages()
    assert message.id == check_id
    for text in named:
        assert text in message.msg
    assert SECRET not in message.msg  # a key or a password in a URL is never echoed


def test_a_backend_that_needs_other_options_is_built_once_to_check_them(
    raw_berrymq: RawBerryMQ,
) -> None:
    from tests.testapp.backends import RecordingBackend

    raw_berrymq({"BACKEND": RecordingBackend, "BACKEND_OPTIONS": {"prefix": "demo"}})
    assert berrymq_messages() == []


def test_composed_drf_permissions_are_accepted() -> None:
    from rest_framework.permissions import IsAdminUser, IsAuthenticated

    with override_settings(BERRYMQ={"PERMISSION_CLASSES": [IsAuthenticated & IsAdminUser]}):
        assert berrymq_messages() == []


def test_berrymq_set_to_none_is_the_defaults(raw_berrymq: RawBerryMQ) -> None:
    raw_berrymq(None)
    assert berrymq_messages() == []
    raw_berrymq([])
    assert ids(berrymq_messages()) == ["berrymq_django.E002"]


# --- a real manage.py check, and start-up, in a subprocess --------------------------------

ROOT = Path(__file__).resolve().parents[1]


def django_command(argv: list[str], berrymq: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m django`` with argv on a site's settings plus berrymq's keys."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.peering.site_settings",
        "PYTHONPATH": str(ROOT),
        "BERRYMQ_SITE_EXTRA": json.dumps(berrymq),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# An unterminated IPv6 host: the URL parser raises instead of answering.
REDIS_V6 = {"URL": "redis://u:pw@[::1/0"}


@pytest.mark.parametrize(
    ("berrymq", "check_id", "named"),
    [
        ({"MULTIPLICITY": "four"}, E003, ["'MULTIPLICITY'", "'four'"]),
        ({"BACKEND": "nowhere.Backend"}, E004, ["'BACKEND'", "'nowhere.Backend'"]),
        ({"BACKEND_OPTIONS": {"nope": 1}}, E009, ["'BACKEND_OPTIONS'", "'nope'"]),
        ({"MAX_BODY_BYTES": 0}, E003, ["'MAX_BODY_BYTES'", "not 0"]),
        ({"API_KEYS": {"site-b": 5}}, E003, ["'API_KEYS'", "'site-b'"]),
        ({"AUTODISCOVER": "receivers"}, E003, ["'AUTODISCOVER'", "'receivers'"]),
        ({"MODEL_EVENTS": ["auth.Usr"]}, E006, ["'MODEL_EVENTS'", "'auth.Usr'"]),
        ({"PEERS": {"b": {**PEER, "API_KEY": 5}}}, E005, ["['b']['API_KEY']", "not 5"]),
        ({"PEERS": {"b": {"URL": PEER["URL"]}}}, E010, ["['b']", "'SELF_URL'"]),
        ({"SELF_URL": "http://[::1/"}, E003, ["'SELF_URL'", "'http://[::1/'"]),
        (
            {"BACKEND": "berrymq_django.backends.redis.RedisBackend", "BACKEND_OPTIONS": REDIS_V6},
            E009,
            ["'redis://u:***@[::1/0'", "Invalid IPv6 URL"],
        ),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else None,
)
def test_manage_py_check_names_the_mistake_and_exits_1_without_a_traceback(
    berrymq: dict[str, Any], check_id: str, named: list[str]
) -> None:
    done = django_command(["check"], berrymq)
    assert done.returncode == 1, done.stderr
    assert f"(berrymq_django.{check_id.split('.')[-1]})" in done.stderr
    for text in named:
        assert text in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_start_up_configures_what_it_can_and_logs_the_rest() -> None:
    berrymq = {
        "NODE_NAME": "lenient-site",
        "RAISE_ERRORS": True,
        "MULTIPLICITY": "four",
        "BACKEND_OPTIONS": {"nope": 1},
        "AUTODISCOVER": "receivers",
        "MODEL_EVENTS": ["auth.Usr", "auth.User"],
        "PEERS": {"b": {**PEER, "API_KEY": 5}},
    }
    code = (
        "from berrymq_django import default_dispatcher as d;"
        "from berrymq_django.model_events import connected_models;"
        "from berrymq_django.peering import peers;"
        "print(d.node_name, d.raise_errors, d.multiplicity, type(d.backend).__name__,"
        " [m._meta.label for m in connected_models()], len(peers().links()))"
    )
    done = django_command(["shell", "-c", code], berrymq)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "lenient-site True 0 MemoryBackend ['auth.User'] 0"
    for text in [
        "'MULTIPLICITY' must be an int of 0 or more, not 'four'. Using the default, 0,",
        "MemoryBackend takes no BACKEND_OPTIONS, got ['nope']",
        "'AUTODISCOVER' must be a list of module names, not 'receivers'",
        "'MODEL_EVENTS' names 'auth.Usr'",
        "['b']['API_KEY'] must be the key string",
    ]:
        assert text in done.stderr
    assert "Traceback" not in done.stderr
