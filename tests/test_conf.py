"""berrymq_django.conf: defaults, overlay, caching and errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from berrymq_django.backends.memory import MemoryBackend
from berrymq_django.conf import BerryMQSettings, berrymq_settings


def test_defaults_apply_when_nothing_is_set() -> None:
    conf = BerryMQSettings({})
    assert conf.NODE_NAME is None
    assert conf.BACKEND is MemoryBackend
    assert conf.BACKEND_OPTIONS == {}
    assert conf.AUTODISCOVER == ["receivers"]
    assert conf.RAISE_ERRORS is False
    assert conf.MULTIPLICITY == 0
    assert conf.ALLOW_ANONYMOUS is False  # the RPC endpoint is closed by default
    assert conf.API_KEYS == {}


def test_user_values_overlay_defaults() -> None:
    conf = BerryMQSettings({"NODE_NAME": "web-1", "MULTIPLICITY": 4})
    assert conf.NODE_NAME == "web-1"
    assert conf.MULTIPLICITY == 4
    assert conf.RAISE_ERRORS is False


def test_backend_may_be_given_as_a_class() -> None:
    assert BerryMQSettings({"BACKEND": MemoryBackend}).BACKEND is MemoryBackend


def test_values_are_cached_until_reload() -> None:
    user = {"NODE_NAME": "first"}
    conf = BerryMQSettings(user)
    assert conf.NODE_NAME == "first"
    user["NODE_NAME"] = "second"
    assert conf.NODE_NAME == "first"
    conf.reload()
    assert conf.NODE_NAME == "second"


def test_override_settings_resets_the_cache() -> None:
    assert berrymq_settings.NODE_NAME is None
    with override_settings(BERRYMQ={"NODE_NAME": "overridden"}):
        assert berrymq_settings.NODE_NAME == "overridden"
        assert berrymq_settings.MULTIPLICITY == 0
    assert berrymq_settings.NODE_NAME is None


def test_unrelated_setting_changes_keep_the_cache() -> None:
    assert berrymq_settings.NODE_NAME is None
    with override_settings(USE_TZ=False):
        assert "NODE_NAME" in vars(berrymq_settings)


def test_unknown_attribute_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="Invalid BERRYMQ setting: 'NOT_A_SETTING'"):
        _ = berrymq_settings.NOT_A_SETTING


def test_unknown_user_key_is_left_to_the_checks_and_valid_keys_still_read() -> None:
    conf = BerryMQSettings({"RAISE_ERROR": True, "NODE_NAME": "web-1"})
    assert conf.NODE_NAME == "web-1"
    assert conf.RAISE_ERRORS is False  # the misspelt key does not count
    assert conf.unknown_keys() == ["RAISE_ERROR"]  # berrymq_django.E001 reports it


def test_berrymq_must_be_a_dict() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"must be a dict, not list \(\['BACKEND'\]\)"):
        _ = BerryMQSettings(["BACKEND"]).BACKEND  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("MULTIPLICITY", "4", "an int of 0 or more"),
        ("MULTIPLICITY", -1, "an int of 0 or more"),
        ("MULTIPLICITY", True, "an int of 0 or more"),
        ("RAISE_ERRORS", "yes", "True or False"),
        ("AUTODISCOVER", "receivers", "a list of module names"),
        ("MODEL_EVENTS", "shop.Order", 'a list of model labels like "shop.Order"'),
        ("NODE_NAME", 42, "None or a non-blank string"),
        ("ALLOW_ANONYMOUS", 1, "True or False"),
        ("MAX_POLL_SECONDS", -0.5, "a positive number of seconds, at most a year"),
    ],
)
def test_malformed_value_is_improperly_configured_naming_key_and_value(
    key: str, value: object, expected: str
) -> None:
    conf = BerryMQSettings({key: value})
    with pytest.raises(ImproperlyConfigured) as info:
        getattr(conf, key)
    assert str(info.value) == f"BERRYMQ setting {key!r} must be {expected}, not {value!r}."


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (
            {"site-b": "s3cret-valid-key", "site-c": 123, "site-d": ""},
            "API keys that are not strings for 'site-c'; empty API keys for 'site-d'",
        ),
        (["s3cret-valid-key"], "not a list."),
    ],
)
def test_malformed_api_keys_name_the_entry_but_never_echo_a_key(value: object, shown: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        _ = BerryMQSettings({"API_KEYS": value}).API_KEYS
    message = str(info.value)
    assert message.startswith("BERRYMQ setting 'API_KEYS' must be a dict of principal name to key")
    assert shown in message
    assert "s3cret" not in message


def test_backend_options_that_are_no_dict_are_not_echoed() -> None:
    # A URL given where the options dict belongs may carry a password.
    conf = BerryMQSettings({"BACKEND_OPTIONS": "redis://:s3cret@cache:6379/0"})
    with pytest.raises(ImproperlyConfigured) as info:
        _ = conf.BACKEND_OPTIONS
    assert str(info.value) == (
        "BERRYMQ setting 'BACKEND_OPTIONS' must be a dict of keyword arguments, not a str."
    )


def test_startup_value_is_checked_when_override_settings_applies_it() -> None:
    with (
        pytest.raises(ImproperlyConfigured, match=r"'MULTIPLICITY' must be an int.*not 'many'"),
        override_settings(BERRYMQ={"MULTIPLICITY": "many"}),
    ):
        pass  # pragma: no cover - entering the override already fails


@pytest.mark.parametrize(
    "value",
    ["berrymq_django.backends.nowhere.Backend", "berrymq_django.backends.memory.Missing"],
)
def test_bad_import_string_names_the_key_and_value(value: str) -> None:
    conf = BerryMQSettings({"BACKEND": value})
    with pytest.raises(ImproperlyConfigured) as info:
        _ = conf.BACKEND
    assert str(info.value).startswith(f"Could not import '{value}' for BERRYMQ setting 'BACKEND': ")
    assert isinstance(info.value.__cause__, ImportError)


# --- start-up reads leniently ------------------------------------------------------------


def test_lenient_reads_use_the_default_and_log_the_mistake(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conf = BerryMQSettings({"MULTIPLICITY": "four", "NODE_NAME": "web-1"})
    with conf.lenient():
        assert conf.MULTIPLICITY == 0
        assert conf.NODE_NAME == "web-1"
    assert conf.MULTIPLICITY == 0  # cached until reload
    [record] = caplog.records
    assert record.levelname == "ERROR"
    assert "'MULTIPLICITY' must be an int of 0 or more, not 'four'" in record.getMessage()
    assert "Using the default, 0," in record.getMessage()
    conf.reload()
    with pytest.raises(ImproperlyConfigured, match="'MULTIPLICITY'"):
        _ = conf.MULTIPLICITY


def test_lenient_reads_of_a_backend_that_does_not_import_use_the_default() -> None:
    conf = BerryMQSettings({"BACKEND": "nowhere.Backend"})
    with conf.lenient():
        assert conf.BACKEND is MemoryBackend


def test_use_defaults_pins_keys_to_their_defaults_until_reload() -> None:
    conf = BerryMQSettings({"BACKEND_OPTIONS": {"url": "x"}})
    assert conf.BACKEND_OPTIONS == {"url": "x"}
    conf.use_defaults("BACKEND", "BACKEND_OPTIONS")
    assert conf.BACKEND is MemoryBackend
    assert conf.BACKEND_OPTIONS == {}
    conf.reload()
    assert conf.BACKEND_OPTIONS == {"url": "x"}


def test_berrymq_none_means_defaults_but_an_empty_list_is_no_dict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.conf import settings

    monkeypatch.setattr(settings, "BERRYMQ", None)
    assert BerryMQSettings().MULTIPLICITY == 0
    monkeypatch.setattr(settings, "BERRYMQ", [])
    with pytest.raises(ImproperlyConfigured, match=r"must be a dict, not list \(\[\]\)"):
        _ = BerryMQSettings().MULTIPLICITY


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("BACKEND", "os.path.join", "a berryMQ backend class"),
        ("BACKEND", "berrymq_django.backends", "a berryMQ backend class"),
        ("AUTHENTICATION_CLASSES", ["rest_framework.permissions.AllowAny"], "authentication"),
        ("PERMISSION_CLASSES", ["rest_framework.throttling.AnonRateThrottle"], "permission"),
        ("THROTTLE_CLASSES", ["rest_framework.authentication.BasicAuthentication"], "throttle"),
    ],
)
def test_an_import_string_must_name_the_right_kind(key: str, value: object, kind: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        getattr(BerryMQSettings({key: value}), key)
    assert f"BERRYMQ setting {key!r} names" in str(info.value)
    assert kind in str(info.value)


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"site-b": "s3cret-key\n"}, "'site-b' a key with spaces around it or characters"),
        ({"site-b": "s3cret-kéy"}, "'site-b' a key with spaces around it or characters"),
        ({"site-b": "s3cret-key", "site-c": "s3cret-key"}, "'site-b' and 'site-c' the same key"),
        ({"": "s3cret-key"}, "a dict with names that are blank or not strings ''"),
        ({"site-b": ""}, "a dict with empty API keys for 'site-b'"),
        (
            {"site-b": 42, "site-c": "s3cret-key"},
            "a dict with API keys that are not strings for 'site-b'",
        ),
    ],
)
def test_api_keys_a_bearer_header_cannot_carry_are_refused_without_echo(
    keys: dict[str, str], says: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        _ = BerryMQSettings({"API_KEYS": keys}).API_KEYS
    assert says in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_BODY_BYTES", 0),
        ("QUEUE_MAXSIZE", 0),
        ("MAX_POLL_SECONDS", 0),
        ("DEDUP_SECONDS", float("nan")),
        ("SELF_URL", "127.0.0.1:8001/berrymq/rpc/"),
        ("AUTODISCOVER", ["receivers", "my receivers"]),
        ("PEERS", {"": {"URL": "http://b.example/"}}),
    ],
)
def test_limits_of_zero_and_other_unusable_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"'{key}' must be"):
        getattr(BerryMQSettings({key: value}), key)


def test_group_settings_become_the_policy_a_grouping_backend_takes() -> None:
    from berrymq_django.backends.base import GroupPolicy
    from berrymq_django.conf import group_policy

    assert group_policy(BerryMQSettings({})) == GroupPolicy()
    conf = BerryMQSettings({"GROUP_CLAIM_SECONDS": 2, "GROUP_MAX_ATTEMPTS": 5})
    assert group_policy(conf) == GroupPolicy(claim_seconds=2.0, max_attempts=5)
