"""berryMQ's three styles between real site processes, and a mesh of three.

Each site is a gunicorn process (tests/peering/sites.py) configured by
BERRYMQ["PEERS"]; the test twitters inside a site (POST /send/) and reads
what another site's "*:*" follower received (GET /received/).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support import eventually, free_port

from .conftest import TESTER_KEY, SiteFactory
from .sites import Site, key_for


def args_of(items: list[dict[str, Any]], identifier: str) -> list[Any]:
    return [item["args"][0] for item in items if item["id"] == identifier]


def wait_connected(site: Site, peer: str) -> dict[str, Any]:
    figures = site.wait_status(TESTER_KEY, peer, lambda f: f["state"] == "connected")
    assert figures.get("state") == "connected", (peer, figures)
    return figures


def callback_of(site: Site, principal: str, timeout: float = 20.0) -> str:
    """Wait for site's callback link of principal's interconnect; return its name."""
    prefix = f"callback:{principal}@"
    names = eventually(
        lambda: [n for n in site.status(TESTER_KEY)["peers"] if n.startswith(prefix)],
        timeout=timeout,
        interval=0.05,
        what=f"{site.name} to have a callback link from {principal}",
    )
    wait_connected(site, names[0])
    return names[0]


# -- interconnect (style 01) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(sites: SiteFactory) -> tuple[Site, Site]:
    """Site A interconnected with site B (only A names B in PEERS; B calls back)."""
    b = sites("site-b", keys={"site-a": key_for("site-a")})
    a = sites(
        "site-a",
        peers={
            "site-b": {
                "URL": b.rpc_url,
                "API_KEY": key_for("site-a"),
                "STYLE": "interconnect",
                "FORWARD": ["order:*", "task:*"],
            }
        },
    )
    wait_connected(a, "site-b")
    callback_of(b, "site-a")
    return a, b


def test_interconnect_carries_messages_both_ways_and_none_back(pair: tuple[Site, Site]):
    a, b = pair
    # B first: A connected on its own at start-up, before sending anything.
    b.twitter("task:run", 30)
    a.twitter("order:created", 30)

    assert a.wait_for(60) >= 60
    assert b.wait_for(60, stable=0.3) == 60
    assert args_of(b.received(origin="site-a"), "order:created") == list(range(30))
    assert args_of(a.received(origin="site-b"), "task:run") == list(range(30))
    # Neither got its own messages back: each has its 30 once, from itself.
    assert a.count() == 60
    assert len({item["uid"] for item in a.received()}) == 60
    assert len({item["uid"] for item in b.received()}) == 60
    # Each link sent only its own site's messages, none of the other's.
    assert a.status(TESTER_KEY)["peers"]["site-b"]["sent"] == 30
    callback = callback_of(b, "site-a")
    assert b.status(TESTER_KEY)["peers"][callback]["sent"] == 30


def test_interconnect_keeps_local_and_unforwarded_identifiers_home(pair: tuple[Site, Site]):
    a, b = pair
    before = b.count()
    a.twitter("_cache:clear", 3)  # local: never leaves the process
    a.twitter("audit:seen", 3)  # not in A's FORWARD
    a.twitter("order:paid", 1)

    assert b.wait_for(before + 1, stable=0.3) == before + 1
    assert b.received()[-1]["id"] == "order:paid"


def test_status_reports_the_link(pair: tuple[Site, Site]):
    a, _ = pair
    figures = a.status(TESTER_KEY)["peers"]["site-b"]

    assert figures["style"] == "interconnect"
    assert figures["state"] == "connected"
    assert figures["buffered"] == 0
    assert figures["dropped"] == 0
    assert figures["last_error"] is None
    assert figures["last_success"] > 0
    assert figures["last_success_at"] == figures["last_success"]
    assert figures["sent"] >= 0 and figures["retried"] >= 0
    assert 0 < figures["rtt_seconds"] < 60  # the interconnect call's round trip, at least


# -- oneway (style 02) ---------------------------------------------------------------------


def test_oneway_only_sends(sites: SiteFactory):
    logs = sites("logs", keys={"app": key_for("app")})
    app = sites(
        "app",
        peers={"logs": {"URL": logs.rpc_url, "API_KEY": key_for("app"), "STYLE": "oneway"}},
    )
    app.twitter("log:line", 20)
    logs.twitter("log:echo", 5)

    assert logs.wait_for(25) == 25
    assert args_of(logs.received(origin="app"), "log:line") == list(range(20))
    assert app.wait_for(20, stable=0.3) == 20  # its own only: nothing comes back
    assert {item["origin"] for item in app.received()} == {"app"}
    assert logs.connections(TESTER_KEY) == {"oneway": 1}
    assert logs.status(TESTER_KEY)["peers"] == {}  # no callback link: one-way


# -- queue (style 03) ----------------------------------------------------------------------


def test_queue_style_pulls_the_peers_queue_into_local_followers(sites: SiteFactory):
    tasks = sites("tasks", keys={"worker": key_for("worker")}, env=_short_polls())
    worker = sites(
        "worker",
        peers={
            "tasks": {
                "URL": tasks.rpc_url,
                "API_KEY": key_for("worker"),
                "STYLE": "queue",
                "QUEUE": "task:*",
                "POLL_SECONDS": 1,
            }
        },
    )
    wait_connected(worker, "tasks")
    assert tasks.connections(TESTER_KEY) == {"queue": 1}

    tasks.twitter("task:run", 20)
    tasks.twitter("mail:sent", 5)  # not the queue's pattern

    assert worker.wait_for(20, stable=0.3) == 20
    got = worker.received(origin="tasks")
    assert args_of(got, "task:run") == list(range(20))
    assert {item["id"] for item in got} == {"task:run"}
    figures = worker.status(TESTER_KEY)["peers"]["tasks"]
    assert (figures["style"], figures["sent"], figures["dropped"]) == ("queue", 20, 0)


def test_a_queue_link_never_brings_back_a_message_that_started_here(sites: SiteFactory):
    # worker sends task:* to tasks (oneway) and pulls task:* from there (queue): its own
    # messages land in the very queue it pulls, and must not be delivered here again.
    tasks = sites("tasks", keys={"worker": key_for("worker")}, env=_short_polls())
    peer = {"URL": tasks.rpc_url, "API_KEY": key_for("worker")}
    worker = sites(
        "worker",
        peers={
            "tasks-in": {**peer, "STYLE": "queue", "QUEUE": "task:*", "POLL_SECONDS": 1},
            "tasks-out": {**peer, "STYLE": "oneway", "FORWARD": ["task:*"]},
        },
    )
    wait_connected(worker, "tasks-in")

    worker.twitter("task:mine", 10)
    tasks.twitter("task:theirs", 5)

    assert tasks.wait_for(15) == 15  # worker's ten reached tasks (and its queue)
    assert worker.wait_for(15, stable=1.0) == 15
    assert args_of(worker.received(), "task:mine") == list(range(10))  # once each
    assert args_of(worker.received(origin="tasks"), "task:theirs") == list(range(5))


def _short_polls() -> dict[str, str]:
    return {"BERRYMQ_SITE_EXTRA": '{"MAX_POLL_SECONDS": 1}'}


# -- a mesh of three -----------------------------------------------------------------------


def test_mesh_of_three_delivers_each_message_to_each_site_exactly_once(sites: SiteFactory):
    # A names B and C, B names C: the other three directions are callbacks.
    n = 25
    c = sites("mesh-c", keys={"mesh-a": key_for("mesh-a"), "mesh-b": key_for("mesh-b")})
    b = sites(
        "mesh-b",
        keys={"mesh-a": key_for("mesh-a")},
        peers={"mesh-c": {"URL": c.rpc_url, "API_KEY": key_for("mesh-b")}},
    )
    a = sites(
        "mesh-a",
        peers={
            "mesh-b": {"URL": b.rpc_url, "API_KEY": key_for("mesh-a")},
            "mesh-c": {"URL": c.rpc_url, "API_KEY": key_for("mesh-a")},
        },
    )
    links = {
        a: ["mesh-b", "mesh-c"],
        b: ["mesh-c", callback_of(b, "mesh-a")],
        c: [callback_of(c, "mesh-a"), callback_of(c, "mesh-b")],
    }
    for site, names in links.items():
        for name in names:
            wait_connected(site, name)

    for site in (a, b, c):
        site.twitter("mesh:hop", n)

    for site in (a, b, c):
        assert site.wait_for(3 * n, stable=0.5) == 3 * n, site.name
        got = site.received()
        assert len({item["uid"] for item in got}) == 3 * n, site.name
        assert Counter(item["origin"] for item in got) == {
            "mesh-a": n,
            "mesh-b": n,
            "mesh-c": n,
        }
        for origin in ("mesh-a", "mesh-b", "mesh-c"):
            assert args_of(site.received(origin), "mesh:hop") == list(range(n)), (
                site.name,
                origin,
            )
    # No message went back to where it came from, nor on to a site that had it (or
    # was being sent it) already: in a full mesh each link to X carried the messages
    # of its own site, n, and nothing more.
    for site, names in links.items():
        peers = site.status(TESTER_KEY)["peers"]
        for name in names:
            assert peers[name]["sent"] == n, (site.name, name, peers[name])


# -- a site of several processes on the Redis backend --------------------------------------


def every_worker_calls_back(site: Site, principal: str, workers: int) -> None:
    """Ask site's workers (requests in parallel start them all) until each has a connected
    callback link to principal: each finds the interconnect on its own, within 2 s."""
    prefix = f"callback:{principal}@"
    states: dict[int, list[str]] = {}  # by worker pid, its callback links' states

    def ask() -> dict[int, list[str]]:
        with ThreadPoolExecutor(8) as pool:
            for answer in pool.map(lambda _: site.http.get("/links/").json(), range(16)):
                links = answer["links"].items()
                states[answer["pid"]] = [s for n, s in links if n.startswith(prefix)]
        return states

    eventually(
        ask,
        until=lambda states: (
            len(states) == workers and all(s == ["connected"] for s in states.values())
        ),
        timeout=20,
        what=f"every worker of {site.name} to call {principal} back",
    )


def redis_url() -> str:
    """Return a Redis URL that answers; else skip, or fail when BERRYMQ_REQUIRE_REDIS=1.

    Only a Redis that is not there skips: no server answering, or (when Redis is
    not required) no redis package. Our backend failing to import is an error.
    """
    required = os.environ.get("BERRYMQ_REQUIRE_REDIS") == "1"
    url = os.environ.get("BERRYMQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if required:
        import redis
    else:
        redis = pytest.importorskip("redis", reason="the redis package is not installed")
    import berrymq_django.backends.redis  # noqa: F401

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"no Redis answers at {url} for the multi-process site ({exc})"
        if required:
            pytest.fail(f"{reason}; BERRYMQ_REQUIRE_REDIS=1 makes this a failure")
        pytest.skip(reason)
    finally:
        client.close()
    return url


OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception, ImportError)


@pytest.mark.parametrize(("required", "outcome"), [("1", "Failed"), ("", "Skipped")])
def test_a_redis_that_does_not_answer_skips_only_when_not_required(
    monkeypatch: pytest.MonkeyPatch, required: str, outcome: str
):
    monkeypatch.setenv("BERRYMQ_REQUIRE_REDIS", required)
    monkeypatch.setenv("BERRYMQ_TEST_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(OUTCOMES) as raised:
        redis_url()
    assert raised.type.__name__ == outcome
    assert "no Redis answers at redis://127.0.0.1:" in str(raised.value)


@pytest.mark.parametrize("required", ["1", ""])
def test_a_backend_that_does_not_import_is_an_error_never_a_skip(
    monkeypatch: pytest.MonkeyPatch, required: str
):
    monkeypatch.setenv("BERRYMQ_REQUIRE_REDIS", required)
    monkeypatch.setitem(sys.modules, "berrymq_django.backends.redis", None)
    with pytest.raises(OUTCOMES) as raised:
        redis_url()
    assert raised.type is ModuleNotFoundError


def test_a_missing_redis_package_fails_when_redis_is_required(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BERRYMQ_REQUIRE_REDIS", "1")
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(OUTCOMES) as raised:
        redis_url()
    assert raised.type is ModuleNotFoundError


def test_every_process_of_a_redis_site_calls_an_interconnected_peer_back(sites: SiteFactory):
    options = {"URL": redis_url(), "PREFIX": f"berrymq-test-{secrets.token_hex(4)}"}
    backend = {
        "BERRYMQ_SITE_BACKEND": "berrymq_django.backends.redis.RedisBackend",
        "BERRYMQ_SITE_BACKEND_OPTIONS": json.dumps(options),
    }
    many = sites("many", keys={"single": key_for("single")}, workers=2, env=backend)
    single = sites("single", peers={"many": {"URL": many.rpc_url, "API_KEY": key_for("single")}})
    wait_connected(single, "many")
    every_worker_calls_back(many, "single", workers=2)

    with ThreadPoolExecutor(8) as pool:
        pids = set(
            pool.map(lambda start: many.twitter("task:run", 5, start=start), range(0, 100, 5))
        )
    single.twitter("order:created", 20)

    assert len(pids) == 2, "both workers should have twittered"
    assert single.wait_for(120, stable=0.3) == 120
    assert sorted(i["args"][0] for i in single.received(origin="many")) == list(range(100))
    # Each worker's follower got every message of the peer (through Redis), once.
    assert many.wait_for(120, stable=0.3) == 120
    assert [i["args"][0] for i in many.received(origin="single")] == list(range(20))
