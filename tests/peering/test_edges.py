"""Peering faults at the edges between sites, through real site processes.

A peer that restarts while messages wait for it, callers that would make a
site grow without bound, messages that come back to where they started, and
peers that answer too slowly.
"""

from __future__ import annotations

import io
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from berrymq_django.peering import send_to
from berrymq_django.rpc.client import PeerUnavailable, RemoteQueue, RPCClient

from .conftest import TESTER_KEY, SiteFactory
from .sites import Site, key_for


def wait_until(condition, timeout: float = 20.0, site: Site | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, site.log()[-3000:] if site else "timed out"
        time.sleep(0.05)


def callbacks(site: Site) -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        name: figures
        for name, figures in site.status(TESTER_KEY)["peers"].items()
        if figures["style"] == "callback"
    }


# -- a peer that restarts while messages wait for it --------------------------------------


def test_what_a_site_buffered_for_a_restarting_peer_reaches_it_once_in_order(
    sites: SiteFactory,
):
    b = sites("wait-b", keys={"wait-a": key_for("wait-a")})
    a = sites(
        "wait-a",
        peers={"b": {"URL": b.rpc_url, "API_KEY": key_for("wait-a"), "MAX_BACKOFF": 0.3}},
    )
    wait_until(lambda: [f["state"] for f in callbacks(b).values()] == ["connected"], site=b)

    a.stop()  # gracefully; B keeps calling back, and buffers
    b.twitter("order:created", 3)
    wait_until(lambda: [f["buffered"] for f in callbacks(b).values()] == [3], site=b)
    a.start()  # a new process: it interconnects again, on a new token

    assert a.wait_for(3, stable=0.3) == 3
    got = a.received(origin="wait-b")
    assert [item["args"][0] for item in got] == [0, 1, 2]
    (figures,) = callbacks(b).values()
    assert (figures["buffered"], figures["dropped"]) == (0, 0)


# -- callers that would make a site grow without bound ------------------------------------


def call(site: Site, method: str, *params: object) -> dict:  # type: ignore[type-arg]
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = site.http.post(
        "/berrymq/rpc/", json=body, headers={"Authorization": f"Bearer {TESTER_KEY}"}
    )
    data: dict = answer.json()  # type: ignore[type-arg]
    return data


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("Threads:"))
    return int(line.split()[1])


def test_interconnects_that_never_call_back_are_bounded_and_collected(sites: SiteFactory):
    site = sites("bounded", env={"BERRYMQ_SITE_EXTRA": '{"MAX_INTERCONNECTS": 5}'})
    pid = site.twitter("warm:up", 1)
    with ThreadPoolExecutor(16) as pool:  # the server's own threads, all of them started
        list(pool.map(lambda _: site.count(), range(64)))
    before = threads(pid)
    nowhere = "http://127.0.0.1:9/berrymq/rpc/"  # refuses at once

    for i in range(50):  # the same caller and address, again and again
        assert "result" in call(site, "interconnect", nowhere, f"token-{i}", 5), i
    assert len(callbacks(site)) == 1
    answers = [call(site, "interconnect", f"http://127.0.0.{i}:9/", "t", 5) for i in range(2, 12)]
    accepted = [a for a in answers if "result" in a]
    refused = [a["error"] for a in answers if "error" in a]
    assert len(accepted) == 4  # 5 addresses in all
    assert {e["code"] for e in refused} == {-32010}
    assert "MAX_INTERCONNECTS" in refused[0]["message"], refused[0]
    assert refused[0]["data"]["setting"] == "MAX_INTERCONNECTS"
    assert len(callbacks(site)) == 5
    assert threads(pid) <= before + 5 + 1

    # Nobody used those connections: they expire, and their links go with them.
    wait_until(lambda: callbacks(site) == {}, timeout=15, site=site)
    wait_until(lambda: threads(pid) <= before + 1, timeout=5, site=site)
    assert "stopped with" not in site.log() or "dropped" in site.log()


# -- messages that come back to where they started ----------------------------------------


def mesh(sites: SiteFactory, prefix: str) -> tuple[Site, Site, Site]:
    """Start three sites interconnected in a full mesh: A names B and C, B names C."""
    names = [f"{prefix}-{x}" for x in "abc"]
    keys = {name: key_for(name) for name in names}
    c = sites(names[2], keys={names[0]: keys[names[0]], names[1]: keys[names[1]]})
    b = sites(
        names[1],
        keys={names[0]: keys[names[0]]},
        peers={"c": {"URL": c.rpc_url, "API_KEY": keys[names[1]]}},
    )
    a = sites(
        names[0],
        peers={
            "b": {"URL": b.rpc_url, "API_KEY": keys[names[0]]},
            "c": {"URL": c.rpc_url, "API_KEY": keys[names[0]]},
        },
    )
    for site in (a, b, c):
        wait_until(
            lambda site=site: (
                [f["state"] for f in site.status(TESTER_KEY)["peers"].values()]
                == ["connected", "connected"]
            ),
            site=site,
        )
    return a, b, c


def test_a_message_sent_to_one_site_of_a_mesh_reaches_each_site_once(sites: SiteFactory):
    a, b, c = mesh(sites, "once")
    token = call(a, "connect_oneway", 60)["result"]

    for i in range(20):  # no uid: the site gives each message one
        assert call(a, "send_message", token, "order:created", [i])["result"] == "ok"
    a.twitter("order:local", 5)  # and five of A's own

    for site in (a, b, c):
        assert site.wait_for(25, stable=1.0) == 25, site.name
        got = site.received()
        assert len({item["uid"] for item in got}) == 25, site.name
        sent = sorted(item["args"][0] for item in got if item["id"] == "order:created")
        assert sent == list(range(20)), site.name
    # A sent each message to B and C, once; neither passed on a copy the other had.
    assert {f["sent"] for f in a.status(TESTER_KEY)["peers"].values()} == {25}
    for site in (b, c):
        assert {f["sent"] for f in site.status(TESTER_KEY)["peers"].values()} == {0}


def test_a_chain_of_sites_passes_messages_along(sites: SiteFactory):
    """X names Y, Y names Z, X and Z know nothing of each other: Y relays both ways."""
    z = sites("chain-z", keys={"chain-y": key_for("chain-y")})
    y = sites(
        "chain-y",
        keys={"chain-x": key_for("chain-x")},
        peers={"z": {"URL": z.rpc_url, "API_KEY": key_for("chain-y")}},
    )
    x = sites("chain-x", peers={"y": {"URL": y.rpc_url, "API_KEY": key_for("chain-x")}})
    for site in (x, y, z):
        wait_until(
            lambda site=site: (
                all(f["state"] == "connected" for f in site.status(TESTER_KEY)["peers"].values())
                and site.status(TESTER_KEY)["peers"] != {}
            ),
            site=site,
        )

    x.twitter("order:created", 5)
    z.twitter("order:shipped", 5)

    for site in (x, y, z):
        assert site.wait_for(10, stable=0.5) == 10, site.name
    assert [item["args"][0] for item in z.received(origin="chain-x")] == list(range(5))
    assert [item["args"][0] for item in x.received(origin="chain-z")] == list(range(5))


# -- peers that answer too slowly ---------------------------------------------------------


class Trickler(socketserver.BaseRequestHandler):
    """Answer any request a few bytes every 0.4 s: /headers/ trickles the status line and
    headers, anything else sends headers at once and trickles a long body."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        body = b'{"jsonrpc": "2.0", "id": 1, "result": "ok"}'.ljust(400)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        head = head.encode()
        slow, fast = (head + body, b"") if b" /headers/" in data else (body, head)
        try:
            self.request.sendall(fast)
            for i in range(0, len(slow), 3):
                self.request.sendall(slow[i : i + 3])
                time.sleep(0.4)
        except OSError:
            pass  # the caller gave up: as it should


@pytest.fixture(scope="module")
def trickler() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/headers/", "/body/"])
def test_timeout_bounds_a_whole_call_to_a_peer_that_trickles(trickler: str, path: str):
    url = trickler + path
    for attempt in (
        lambda: send_to(url, "order:created", [1], timeout=1.0),
        lambda: RemoteQueue(url, "order:*", timeout=1.0),
        lambda: RPCClient(url, timeout=1.0).call("status"),
        lambda: RPCClient(url, timeout=10.0).call("status", timeout=1.0),
    ):
        started = time.monotonic()
        with pytest.raises(PeerUnavailable, match="Timeout"):
            attempt()
        assert time.monotonic() - started < 1.8


def test_a_link_to_a_peer_that_trickles_gives_up_each_call_at_its_timeout(
    sites: SiteFactory, trickler: str
):
    site = sites(
        "trickled",
        peers={
            "slow": {
                "URL": f"{trickler}/body/",
                "STYLE": "oneway",
                "TIMEOUT": 1,
                "MAX_BACKOFF": 0.1,
            }
        },
    )
    site.twitter("order:created", 1)
    started = time.monotonic()
    figures = site.wait_status(TESTER_KEY, "slow", lambda f: f["retried"] >= 3, timeout=30)

    assert figures["retried"] >= 3
    assert time.monotonic() - started < 3 * 1.3 + 2  # connect, then three tries of 1 s
    assert "Timeout" in figures["last_error"]


def test_the_peers_command_waits_a_bounded_time_for_a_peer_that_trickles(trickler: str):
    peers = {"slow": {"URL": f"{trickler}/headers/", "STYLE": "oneway"}}
    with override_settings(BERRYMQ={"PEERS": peers}):
        started = time.monotonic()
        with pytest.raises(CommandError, match="1 of 1 peer"):
            call_command("berrymq_peers", "--timeout", "1", stdout=io.StringIO())
    assert time.monotonic() - started < 1.8


@pytest.mark.parametrize(
    "argv",
    [
        ["berrymq_tail", "order:*", "--timeout", "1"],
        ["berrymq_tail", "order:*", "--timeout", "1", "--count", "1"],
        ["berrymq_send", "order:created", "1", "--timeout", "1"],
    ],
    ids=["tail", "tail-count", "send"],
)
@pytest.mark.parametrize("path", ["/headers/", "/body/"])
def test_a_commands_timeout_bounds_reaching_a_site_that_trickles(
    trickler: str, path: str, argv: list[str]
):
    """It used to take the client's own 10 s whatever --timeout said."""
    started = time.monotonic()
    with pytest.raises(CommandError, match="Timeout"):
        call_command(*argv, "--url", trickler + path, stdout=io.StringIO(), stderr=io.StringIO())
    assert time.monotonic() - started < 1.8
