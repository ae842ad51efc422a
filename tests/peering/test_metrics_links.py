"""berrymq/metrics reports this process's peer links: buffered, sent, retried, state, rtt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from berrymq_django import twitter
from berrymq_django.peering import close_connection, connect_oneway
from tests.support import eventually, free_port

from .conftest import TESTER_KEY, SiteFactory
from .sites import Site

KEY = "m" * 32


@pytest.fixture(autouse=True)
def scraper_key() -> Iterator[None]:
    with override_settings(BERRYMQ={"API_KEYS": {"scraper": KEY}}):
        yield
    close_connection()


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/berrymq/metrics", HTTP_AUTHORIZATION=f"Bearer {KEY}")
    assert response.status_code == 200, response.content[:300]
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def peer_value(name: str, peer: str, **labels: Any) -> float | None:
    key = (name, tuple(sorted({"peer": peer, **labels}.items())))
    return scrape().get(key)


@pytest.fixture(scope="module")
def site(sites: SiteFactory) -> Site:
    return sites("metrics-site")


def test_a_link_to_a_peer_that_answers_counts_what_it_sent(site: Site):
    before = site.count()
    connect_oneway(site.rpc_url, api_key=TESTER_KEY, name="up-peer")
    for i in range(3):
        twitter("order:created", i)

    assert site.wait_for(before + 3) == before + 3
    eventually(lambda: peer_value("berrymq_peer_sent_total", "up-peer"), lambda v: v == 3)
    assert peer_value("berrymq_peer_buffered", "up-peer") == 0
    assert peer_value("berrymq_peer_dropped_total", "up-peer") == 0
    assert peer_value("berrymq_peer_state", "up-peer", berrymq_peer_state="connected") == 1
    assert peer_value("berrymq_peer_state", "up-peer", berrymq_peer_state="retrying") == 0
    rtt = peer_value("berrymq_peer_rtt_seconds", "up-peer")
    assert rtt is not None and 0 < rtt < 60


def test_a_link_to_a_peer_that_is_down_shows_it_retrying():
    down = f"http://127.0.0.1:{free_port()}/berrymq/rpc/"  # nothing listens there
    connect_oneway(down, api_key=TESTER_KEY, name="down-peer")
    twitter("order:created", 1)
    twitter("order:created", 2)

    eventually(
        lambda: peer_value("berrymq_peer_state", "down-peer", berrymq_peer_state="retrying"),
        lambda v: v == 1,
    )
    eventually(lambda: peer_value("berrymq_peer_retried_total", "down-peer"), lambda v: v >= 1)
    assert peer_value("berrymq_peer_buffered", "down-peer") == 2
    assert peer_value("berrymq_peer_sent_total", "down-peer") == 0
    assert peer_value("berrymq_peer_rtt_seconds", "down-peer") is None  # never answered
