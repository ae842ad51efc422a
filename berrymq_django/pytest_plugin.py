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
