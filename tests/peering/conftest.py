"""Fixtures for the peering tests: real site processes, started once per module.

``sites(name, **options)`` starts a Site (see sites.py) that lives until the
end of the module; every site knows the key of "tester" (``TESTER_KEY``), the
name the test process calls them by. A failing test prints the logs of the
module's sites, which hold the berrymq.peers warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from .sites import Site, key_for

TESTER_KEY = key_for("tester")


SiteFactory = Callable[..., Site]


@pytest.fixture(scope="module")
def sites(request: pytest.FixtureRequest) -> Iterator[SiteFactory]:
    """Return sites(name, keys=..., peers=..., ...) -> a started Site, closed after the module."""
    started: list[Site] = []

    def start(name: str, *, keys: dict[str, str] | None = None, **options: Any) -> Site:
        site = Site(name, keys={"tester": TESTER_KEY, **(keys or {})}, **options)
        started.append(site)
        return site.start()

    yield start
    if request.session.testsfailed:
        for site in started:
            print(f"\n--- log of {site.name} ({site.base_url}) ---\n{site.log()[-4000:]}")
    with ThreadPoolExecutor() as pool:  # stopping takes a moment each: all at once
        list(pool.map(Site.close, started))
