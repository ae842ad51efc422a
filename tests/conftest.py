"""Fixtures shared by the whole suite.

Every test runs inside ``default_dispatcher.isolate()``: it starts with no
subscriptions, and whatever it subscribes is gone afterwards. The followers that
autodiscovery registered at Django setup are hidden meanwhile; a test that needs
them (the demo page, the autodiscovery checks) opts out with
``@pytest.mark.berrymq_shared`` and must then leave no subscriptions behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from berrymq_django.core.api import default_dispatcher


def pytest_configure(config: pytest.Config) -> None:
    """Register the berrymq_shared marker (the suite runs with --strict-markers)."""
    config.addinivalue_line(
        "markers",
        "berrymq_shared: run against the default dispatcher's real subscriptions, "
        "without isolation",
    )


@pytest.fixture(autouse=True)
def berrymq_isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test with an empty default dispatcher, unless marked berrymq_shared."""
    if request.node.get_closest_marker("berrymq_shared") is not None:
        yield
        return
    with default_dispatcher.isolate():
        yield
