"""The dashboard on the default in-memory backend: no dead letters, connections in memory."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .conftest import Site, running_site

DASHBOARD = "/berrymq/dashboard/"


@pytest.fixture(scope="module")
def memory_site() -> Iterator[Site]:
    with running_site(memory=True) as running:
        yield running


def test_every_page_renders_and_dead_letters_are_left_out(memory_site: Site) -> None:
    with memory_site.login() as staff:
        for page in ("", "followers/", "queues/", "peers/", "network/", "tail/"):
            answer = staff.get(f"{DASHBOARD}{page}")
            assert answer.status_code == 200, (page, answer.text)
            assert f'href="{DASHBOARD}dead/"' not in answer.text
        dead = staff.get(f"{DASHBOARD}dead/").text
        overview = staff.get(DASHBOARD).text
    assert "keeps no dead letters" in dead
    assert "memory.MemoryBackend" in overview


def test_a_queue_connection_shows_its_depth_in_memory(memory_site: Site) -> None:
    token = memory_site.connect_queue("order:*")
    for number in range(3):
        memory_site.twitter("order:created", number)
    with memory_site.login() as staff:
        page = staff.get(f"{DASHBOARD}queues/").text
    row = re.search(rf"<tr data-connection=.*?{re.escape(token[:6])}.*?</tr>", page, re.S)
    assert row is not None, page
    assert "3 / 10000" in row.group(0)
