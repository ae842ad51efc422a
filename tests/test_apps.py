"""berrymq_django.apps: configuring the default dispatcher and autodiscovering receivers."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from berrymq_django import following_function, show_followers, twitter
from berrymq_django.apps import autodiscover, configure_dispatcher
from berrymq_django.conf import berrymq_settings
from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher
from tests.testapp import imported_modules
from tests.testapp.backends import RecordingBackend

# make(package_name, receivers_source or None) -> the AppConfig of a package in tmp_path
MakeApp = Callable[[str, str | None], AppConfig]

# --- autodiscovery at startup -------------------------------------------------------


@pytest.mark.berrymq_shared
def test_autodiscovery_imported_the_receivers_module_once() -> None:
    assert imported_modules == ["tests.testapp.receivers"]


@pytest.mark.berrymq_shared
def test_autodiscovered_follower_is_registered_and_receives() -> None:
    from tests.testapp import receivers

    assert any("tests.testapp.receivers.record" in line for line in show_followers())
    before = len(receivers.received)
    message = twitter("testapp:ping", 1, flag=True)
    assert receivers.received[before:] == [message]


def test_isolation_hides_autodiscovered_followers() -> None:
    assert not any("tests.testapp.receivers" in line for line in show_followers())


# --- configure_dispatcher ---------------------------------------------------------


def test_raise_errors_follows_override_settings() -> None:
    @following_function("apps_test:boom")
    def explode(message: object) -> None:
        raise RuntimeError("follower failed")

    assert default_dispatcher.raise_errors is False
    with override_settings(BERRYMQ={"RAISE_ERRORS": True}):
        assert default_dispatcher.raise_errors is True
        with pytest.raises(RuntimeError, match="follower failed"):
            twitter("apps_test:boom")
    assert default_dispatcher.raise_errors is False
    errors = default_dispatcher.error_count
    twitter("apps_test:boom")
    assert default_dispatcher.error_count == errors + 1


def test_node_name_follows_settings_and_comes_back() -> None:
    original = default_dispatcher.node_name
    with override_settings(BERRYMQ={"NODE_NAME": "web-1"}):
        assert default_dispatcher.node_name == "web-1"
        assert twitter("apps_test:hello").origin == "web-1"
    assert default_dispatcher.node_name == original


def test_backend_is_kept_when_only_other_settings_change() -> None:
    backend = default_dispatcher.backend
    with override_settings(BERRYMQ={"RAISE_ERRORS": True, "MULTIPLICITY": 0}):
        assert default_dispatcher.backend is backend
    assert default_dispatcher.backend is backend


def test_backend_is_built_from_backend_and_options_then_closed_on_change() -> None:
    dispatcher = Dispatcher()
    conf = {
        "BACKEND": "tests.testapp.backends.RecordingBackend",
        "BACKEND_OPTIONS": {"prefix": "demo"},
    }
    with override_settings(BERRYMQ=conf):
        configure_dispatcher(dispatcher)
        first = dispatcher.backend
        assert isinstance(first, RecordingBackend)
        assert first.options == {"prefix": "demo"}
        configure_dispatcher(dispatcher)
        assert dispatcher.backend is first
    with override_settings(BERRYMQ={**conf, "BACKEND_OPTIONS": {"prefix": "other"}}):
        configure_dispatcher(dispatcher)
        assert dispatcher.backend is not first
        assert dispatcher.backend.options == {"prefix": "other"}
        assert first.closed


def test_multiplicity_follows_settings() -> None:
    seen: list[object] = []

    @following_function("apps_test:threaded")
    def remember(message: object) -> None:
        seen.append(message)

    with override_settings(BERRYMQ={"MULTIPLICITY": 2}):
        message = twitter("apps_test:threaded")
    # Leaving the override sets multiplicity 0 again, which waits for pending deliveries.
    assert seen == [message]


def test_bad_backend_is_improperly_configured_naming_key_and_value() -> None:
    value = "berrymq_django.backends.nowhere.Backend"
    with (
        pytest.raises(
            ImproperlyConfigured,
            match=rf"Could not import '{value}' for BERRYMQ setting 'BACKEND'",
        ),
        override_settings(BERRYMQ={"BACKEND": value}),
    ):
        pass  # pragma: no cover - entering the override already fails
    # override_settings restored the settings, and the dispatcher with them.
    assert berrymq_settings.BACKEND is type(default_dispatcher.backend)


def test_backend_options_the_backend_refuses_are_improperly_configured() -> None:
    with (
        pytest.raises(
            # The options are not echoed: they may hold a password.
            ImproperlyConfigured,
            match=r"'BACKEND_OPTIONS' does not suit MemoryBackend",
        ),
        override_settings(BERRYMQ={"BACKEND_OPTIONS": {"url": "x"}}),
    ):
        pass  # pragma: no cover - entering the override already fails


# --- autodiscover() ---------------------------------------------------------------


@pytest.fixture
def app_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    """Make app packages in tmp_path, importable while the test runs."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(name: str, receivers: str | None) -> AppConfig:
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        if receivers is not None:
            (package / "receivers.py").write_text(textwrap.dedent(receivers))
        made.append(name)
        return AppConfig.create(name)

    yield make
    for module in list(sys.modules):
        if module.split(".")[0] in made:
            del sys.modules[module]


def test_autodiscover_imports_receivers_modules(app_factory: MakeApp) -> None:
    app = app_factory(
        "berrymq_goodapp",
        """
        from berrymq_django import following_function

        @following_function("goodapp:*")
        def handle(message):
            pass
        """,
    )
    autodiscover(["receivers"], app_configs=[app])
    assert "berrymq_goodapp.receivers" in sys.modules
    assert any("berrymq_goodapp.receivers.handle" in line for line in show_followers())


def test_autodiscover_skips_apps_without_the_module(app_factory: MakeApp) -> None:
    app = app_factory("berrymq_plainapp", None)
    autodiscover(["receivers"], app_configs=[app])
    assert "berrymq_plainapp.receivers" not in sys.modules


def test_import_error_inside_receivers_propagates_naming_the_module(app_factory: MakeApp) -> None:
    app = app_factory("berrymq_brokenapp", "import berrymq_no_such_dependency\n")
    with pytest.raises(ModuleNotFoundError, match="berrymq_no_such_dependency") as info:
        autodiscover(["receivers"], app_configs=[app])
    assert any("'berrymq_brokenapp.receivers'" in note for note in info.value.__notes__)


def test_other_errors_inside_receivers_propagate_too(app_factory: MakeApp) -> None:
    app = app_factory("berrymq_raisingapp", "raise ValueError('bad receivers')\n")
    with pytest.raises(ValueError, match="bad receivers") as info:
        autodiscover(["receivers"], app_configs=[app])
    assert any("'berrymq_raisingapp.receivers'" in note for note in info.value.__notes__)
