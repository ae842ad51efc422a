"""berrymq_django.testing and the pytest plugin: helpers for users' own tests."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points

import pytest

from berrymq_django import (
    Dispatcher,
    Message,
    Queue,
    default_dispatcher,
    following_function,
    show_followers,
    twitter,
)
from berrymq_django.testing import Outbox, capture_messages, isolated

pytest_plugins = ["pytester"]


# --- capture_messages ---------------------------------------------------------------


def test_capture_records_matching_messages_in_order() -> None:
    with capture_messages("order:*") as outbox:
        first = twitter("order:created", 1, total="9.90")
        twitter("user:joined", "ann")
        second = twitter("order:shipped", 1)
    assert isinstance(outbox, list)
    assert outbox == [first, second]
    assert outbox.ids == ["order:created", "order:shipped"]
    assert outbox[0].kwargs == {"total": "9.90"}


def test_capture_default_pattern_takes_every_message_without_namespace() -> None:
    with capture_messages() as outbox:
        twitter("order:created")
        twitter("_cache:flush")
        twitter("order@eu:created")
    assert outbox.ids == ["order:created", "_cache:flush"]
    with capture_messages("*@eu:*") as eu:
        twitter("order@eu:created")
    assert eu.ids == ["order@eu:created"]


def test_capture_removes_its_follower_on_exit_even_after_an_error() -> None:
    with pytest.raises(RuntimeError), capture_messages() as outbox:
        assert len(show_followers()) == 1
        raise RuntimeError("test body failed")
    assert show_followers() == []
    twitter("order:created")
    assert outbox == []


def test_outbox_filter_and_clear() -> None:
    with capture_messages() as outbox:
        twitter("order:created", 1)
        twitter("user:created", 2)
        twitter("order:paid", 1)
    assert [m.id for m in outbox.filter("*:created")] == ["order:created", "user:created"]
    assert [m.id for m in outbox.filter("order")] == ["order:created", "order:paid"]
    outbox.clear()
    assert outbox == [] and outbox.ids == []


def test_capture_on_another_dispatcher() -> None:
    other = Dispatcher()
    with capture_messages(dispatcher=other) as outbox, capture_messages() as default_outbox:
        other.twitter("order:created")
    assert outbox.ids == ["order:created"]
    assert default_outbox == []


def test_capture_refuses_a_malformed_pattern() -> None:
    with pytest.raises(ValueError, match="'order created'"), capture_messages("order created"):
        pass  # pragma: no cover


# --- isolated ---------------------------------------------------------------------------


def test_isolated_starts_empty_and_forgets_what_was_made_inside() -> None:
    @following_function("order:*")
    def outside(message: Message) -> None:
        """Registered before the block."""

    with isolated() as dispatcher:
        assert dispatcher is default_dispatcher
        assert show_followers() == []

        @following_function("order:*")
        def inside(message: Message) -> None:
            """Registered in the block."""

        queue = Queue("order:*")
        assert len(show_followers()) == 2
    assert [line.split(" -> ")[1] for line in show_followers()] == [
        f"{__name__}.test_isolated_starts_empty_and_forgets_what_was_made_inside.<locals>.outside"
        " (function)"
    ]
    twitter("order:created")
    assert queue.qsize() == 0


def test_isolated_sets_and_restores_the_error_policy_and_count() -> None:
    @following_function("boom:*")
    def explode(message: Message) -> None:
        raise RuntimeError("kaboom")

    twitter("boom:before")
    count = default_dispatcher.error_count
    with isolated(raise_errors=True):
        assert default_dispatcher.error_count == 0
        register = following_function("boom:*")
        register(explode)
        with pytest.raises(RuntimeError, match="kaboom"):
            twitter("boom:inside")
    assert default_dispatcher.raise_errors is False
    assert default_dispatcher.error_count == count


# --- the pytest plugin, used in this suite ------------------------------------------------


def test_plugin_is_registered_as_a_pytest11_entry_point(pytestconfig: pytest.Config) -> None:
    [entry] = [e for e in entry_points(group="pytest11") if e.name == "berrymq"]
    assert entry.value == "berrymq_django.pytest_plugin"
    assert pytestconfig.pluginmanager.has_plugin("berrymq")


def test_berrymq_messages_fixture(berrymq_messages: Outbox) -> None:
    twitter("order:created", 1)
    assert berrymq_messages.ids == ["order:created"]


@pytest.mark.berrymq(raise_errors=True)
def test_berrymq_marker_makes_errors_propagate() -> None:
    @following_function("boom:*")
    def explode(message: Message) -> None:
        raise RuntimeError("kaboom")

    with pytest.raises(RuntimeError, match="kaboom"):
        twitter("boom:now")


# --- the pytest plugin, in a project of its own (pytester) ---------------------------------

INNER_TESTS = '''
import pytest
from berrymq_django import default_dispatcher, following_function, show_followers, twitter


@following_function("order:*")
def module_level(message):
    """Registered at import, like a receivers module's follower."""


def test_messages_are_captured(berrymq_messages):
    twitter("order:created", 42, total="9.90")
    twitter("user:joined")
    assert berrymq_messages.ids == ["order:created", "user:joined"]
    assert berrymq_messages[0].args == (42,)


def test_fixture_hides_earlier_followers_and_registers_one(berrymq_messages):
    assert not any("module_level" in line for line in show_followers())

    @following_function("order:*")
    def leaky(message):
        pass

    assert any("leaky" in line for line in show_followers())


def test_follower_of_the_previous_test_is_gone_and_earlier_ones_are_back():
    lines = show_followers()
    assert not any("leaky" in line for line in lines)
    assert any("module_level" in line for line in lines)


def test_errors_are_logged_by_default(berrymq_dispatcher):
    @following_function("boom:*")
    def boom(message):
        raise RuntimeError("kaboom")

    twitter("boom:now")
    assert berrymq_dispatcher.error_count == 1


@pytest.mark.berrymq(raise_errors=True)
def test_marker_makes_errors_propagate(berrymq_dispatcher):
    @following_function("boom:*")
    def boom(message):
        raise RuntimeError("kaboom")

    with pytest.raises(RuntimeError, match="kaboom"):
        twitter("boom:now")


@pytest.mark.berrymq(raise_errors=True)
def test_marker_works_without_the_fixtures():
    assert default_dispatcher.raise_errors is True


def test_error_policy_is_back_after_a_marked_test():
    assert default_dispatcher.raise_errors is False


@pytest.mark.berrymq(raise_error=True)
def test_misspelt_marker_option_is_reported():
    pass
'''


def test_plugin_in_a_fresh_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "inner_settings")
    pytester.makepyfile(
        inner_settings=textwrap.dedent(
            """
            SECRET_KEY = "inner-tests-only"
            INSTALLED_APPS = ["rest_framework", "berrymq_django"]
            USE_TZ = True
            """
        ),
        test_inner=INNER_TESTS,
    )
    pytester.makeini(
        textwrap.dedent(
            """
            [pytest]
            addopts = --strict-markers -p no:cacheprovider
            filterwarnings = error
            asyncio_default_fixture_loop_scope = function
            """
        )
    )
    result = pytester.runpytest_subprocess("-v", timeout=120)
    result.assert_outcomes(passed=7, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_misspelt_marker_option_is_reported ERROR*",
            "*@pytest.mark.berrymq takes keyword options raise_errors; got raise_error.*",
        ]
    )


def test_plugin_can_be_disabled(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyfile(
        test_off="def test_fixture_is_absent(berrymq_messages):\n    pass\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:berrymq", "-p", "no:django", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'berrymq_messages' not found*"])


POOL_TESTS = """
import pytest
from berrymq_django import following_function, set_multiplicity, twitter


@pytest.mark.berrymq(raise_errors=True)
def test_follower_fails_on_the_pool(berrymq_dispatcher):
    @following_function("boom:*")
    def boom(message):
        raise RuntimeError("kaboom on the pool")

    set_multiplicity(2)
    try:
        twitter("boom:now")  # returns at once: the error happens on the pool
    finally:
        set_multiplicity(0)
"""


def test_marker_fails_a_test_whose_follower_failed_on_the_pool(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "inner_settings")
    pytester.makepyfile(
        inner_settings='SECRET_KEY = "x"\nINSTALLED_APPS = ["rest_framework", "berrymq_django"]\n',
        test_pool=POOL_TESTS,
    )
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    result = pytester.runpytest_subprocess("-v", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*1 berryMQ follower error(s) were raised where the sender*"])
