"""pytest plugin for projects that use berrymq_django, loaded through the ``pytest11`` entry point.

Fixtures:

``berrymq_dispatcher``
    The default dispatcher, isolated for the test: it starts with no followers
    or queues, and whatever the test registers is gone after it.
``berrymq_messages``
    An :class:`~berrymq_django.testing.Outbox` of every message sent during the
    test (under ``berrymq_dispatcher``'s isolation).

Marker:

``@pytest.mark.berrymq(raise_errors=True)``
    Follower exceptions propagate to the sender during the test instead of
    being logged and counted.

Disable the plugin with ``-p no:berrymq``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.testing import Outbox, capture_messages, isolated

# Options the berrymq marker takes, with what each means (for the error message).
MARKER_OPTIONS = {"raise_errors": "True: follower exceptions propagate to the sender"}


def pytest_configure(config: pytest.Config) -> None:
    """Register the berrymq marker, so --strict-markers accepts it."""
    config.addinivalue_line(
        "markers",
        "berrymq(raise_errors=True): let follower exceptions propagate during the test",
    )


def marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Return the keyword options of the test's closest berrymq marker, checked."""
    marker = request.node.get_closest_marker("berrymq")
    if marker is None:
        return {}
    unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
    if marker.args or unknown:
        given = [repr(arg) for arg in marker.args] + unknown
        pytest.fail(
            f"@pytest.mark.berrymq takes keyword options {', '.join(MARKER_OPTIONS)}; "
            f"got {', '.join(given)}.",
            pytrace=False,
        )
    return dict(marker.kwargs)


@pytest.fixture(autouse=True)
def _berrymq_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply @pytest.mark.berrymq options for the test; do nothing without the marker."""
    options = marker_options(request)
    if "raise_errors" not in options:
        yield
        return
    saved = default_dispatcher.raise_errors
    default_dispatcher.raise_errors = bool(options["raise_errors"])
    try:
        yield
    finally:
        default_dispatcher.raise_errors = saved


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Under raise_errors, fail a test whose followers failed where the sender did not wait.

    Those errors (on the delivery pool, in messages from other processes) are
    logged and counted, never raised into the test: without this a test
    marked raise_errors would pass while a follower fails.
    """
    marker = item.get_closest_marker("berrymq")
    if marker is None or not marker.kwargs.get("raise_errors"):
        return (yield)
    errors_before = default_dispatcher.error_count
    result = yield
    contained = default_dispatcher.error_count - errors_before
    if contained > 0:
        pytest.fail(
            f"{contained} berryMQ follower error(s) were raised where the sender does not "
            "wait (MULTIPLICITY > 0, or from another process); see the log above.",
            pytrace=False,
        )
    return result


@pytest.fixture
def berrymq_dispatcher() -> Iterator[Dispatcher]:
    """Yield the default dispatcher with no followers; what the test registers goes after it."""
    with isolated() as dispatcher:
        yield dispatcher


@pytest.fixture
def berrymq_messages(berrymq_dispatcher: Dispatcher) -> Iterator[Outbox]:
    """Yield the Outbox of every message (without a namespace) sent during the test."""
    with capture_messages(dispatcher=berrymq_dispatcher) as outbox:
        yield outbox
