"""The seed's Python API, from this (test) process against a real site process.

interconnect() needs the site to call us back, so that test serves this
process's endpoint with pytest-django's live server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from berrymq_django import Empty, Message, register_function, twitter
from berrymq_django.conf import berrymq_settings
from berrymq_django.peering import (
    close_connection,
    connect_oneway,
    connect_via_queue,
    interconnect,
    peers,
    send_message,
    send_to,
)
from berrymq_django.rpc.client import PeerError, PeerUnavailable, Unauthorized
from tests.support import eventually, free_port

from .conftest import TESTER_KEY, SiteFactory
from .sites import Site


@pytest.fixture(scope="module")
def site(sites: SiteFactory) -> Site:
    return sites("api-site", env={"BERRYMQ_SITE_EXTRA": '{"MAX_POLL_SECONDS": 1}'})


@pytest.fixture(autouse=True)
def no_links_left() -> Iterator[None]:
    yield
    close_connection()


def test_connect_via_queue_pulls_with_get_and_get_nowait_then_closes(site: Site):
    queue = connect_via_queue(site.rpc_url, "task:*", ttl=60, api_key=TESTER_KEY)
    assert site.connections(TESTER_KEY) == {"queue": 1}
    with pytest.raises(Empty):
        queue.get_nowait()

    site.twitter("task:run", 3)
    site.twitter("mail:sent", 1)
    got = [queue.get(timeout=5), queue.get_nowait(), queue.get(timeout=5)]

    assert [(m.id, m.args, m.origin) for m in got] == [
        ("task:run", (0,), "api-site"),
        ("task:run", (1,), "api-site"),
        ("task:run", (2,), "api-site"),
    ]
    started = time.monotonic()
    with pytest.raises(Empty):
        queue.get(timeout=0.3)
    assert time.monotonic() - started < 2.0
    queue.close()
    assert site.connections(TESTER_KEY) == {}
    with pytest.raises(PeerError):
        queue.get_nowait()


def test_connect_via_queue_fails_at_once_for_a_bad_pattern_key_or_url(site: Site):
    with pytest.raises(ValueError, match="whitespace"):
        connect_via_queue(site.rpc_url, "task: run", api_key=TESTER_KEY)
    with pytest.raises(Unauthorized):
        connect_via_queue(site.rpc_url, "task:*", api_key="wrong-key-wrong-key")
    with pytest.raises(PeerUnavailable):
        connect_via_queue(f"http://127.0.0.1:{free_port()}/berrymq/rpc/", "task:*")


def test_connect_oneway_and_send_message(site: Site):
    mine: list[Message] = []
    register_function("*:*", mine.append)
    before = site.count()
    link = connect_oneway(site.rpc_url, api_key=TESTER_KEY)

    sent = send_message("log:line", "hello", level="info")  # one-way peers only
    twitter("order:created", 7)  # non-local: every one-way peer gets it too

    assert site.wait_for(before + 2) == before + 2
    got = site.received()[-2:]
    assert [(i["id"], i["args"], i["kwargs"]) for i in got] == [
        ("log:line", ["hello"], {"level": "info"}),
        ("order:created", [7], {}),
    ]
    assert got[0]["uid"] == sent.uid
    assert got[0]["origin"] == got[1]["origin"] == twitter("_x:y").origin
    assert [m.id for m in mine] == ["order:created", "_x:y"]  # not log:line
    # The site holds the messages before its answer reaches the link, which counts them then.
    eventually(lambda: link.status()["sent"] == 2, what="the link to count both messages sent")

    assert close_connection(site.rpc_url) == 1
    assert site.connections(TESTER_KEY) == {}
    assert peers().links() == []


def test_send_to_sends_one_message_and_closes(site: Site):
    before = site.count()
    message = send_to(site.rpc_url, "order:paid", [1, "x"], {"total": 2}, api_key=TESTER_KEY)

    assert site.wait_for(before + 1) == before + 1
    item = site.received()[-1]
    assert (item["id"], item["args"], item["kwargs"], item["uid"]) == (
        "order:paid",
        [1, "x"],
        {"total": 2},
        message.uid,
    )
    assert item["origin"] == "rpc:tester"
    assert site.connections(TESTER_KEY) == {}


@pytest.fixture(scope="session")
def static_url() -> Iterator[None]:
    """The live server's static files handler needs a STATIC_URL (the test settings have none).

    Session-scoped like live_server, so that it is set before the server starts.
    """
    with override_settings(STATIC_URL="/static/"):
        yield


def test_interconnect_exchanges_messages_both_ways(site: Site, static_url: None, live_server):
    here = live_server.url + "/berrymq/rpc/"
    config = {**settings.BERRYMQ, "SELF_URL": here, "NODE_NAME": "script"}
    mine: list[Message] = []
    register_function("task:*", mine.append)
    with override_settings(BERRYMQ=config):
        link = interconnect(site.rpc_url, ttl=60, api_key=TESTER_KEY)
        eventually(link.status, until=lambda status: status["state"] == "connected")
        callback = f"callback:tester@{here}"
        eventually(
            lambda: site.status(TESTER_KEY)["peers"].get(callback, {}).get("state"),
            until=lambda state: state == "connected",
        )

        site.twitter("task:run", 3)  # the site calls us back
        before = site.count()
        twitter("order:created", 1)

        eventually(lambda: mine, until=lambda mine: len(mine) == 3)
        assert [(m.args, m.origin) for m in mine] == [
            ((0,), "api-site"),
            ((1,), "api-site"),
            ((2,), "api-site"),
        ]
        assert site.wait_for(before + 1) == before + 1
        assert site.received()[-1]["origin"] == "script"

        assert close_connection() == 1
        # Closing told the site, which stopped calling us back.
        eventually(lambda: callback not in site.status(TESTER_KEY)["peers"])
        assert site.connections(TESTER_KEY) == {}


def test_interconnect_needs_self_url(site: Site, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(berrymq_settings, "SELF_URL", None)
    monkeypatch.setattr(peers(), "self_url", None)
    with pytest.raises(ImproperlyConfigured, match="SELF_URL"):
        interconnect(site.rpc_url, api_key=TESTER_KEY)
