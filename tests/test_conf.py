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


def test_unknown_user_key_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"Unknown BERRYMQ setting.*RAISE_ERROR\b"):
        _ = BerryMQSettings({"RAISE_ERROR": True}).RAISE_ERRORS


def test_berrymq_must_be_a_dict() -> None:
    with pytest.raises(ImproperlyConfigured, match="must be a dict, not list"):
        _ = BerryMQSettings(["BACKEND"]).BACKEND  # type: ignore[arg-type]


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
