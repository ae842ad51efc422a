"""Peers that go away, refuse, stall or answer garbage; a full buffer; fork.

The site keeps serving through all of it, keeps what it could not send (or
reports it dropped), and the status JSON-RPC method says why.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import complete_lines, eventually, free_port

from .conftest import TESTER_KEY, SiteFactory
from .sites import ROOT, Site, key_for

FAST_RETRY = {"MAX_BACKOFF": 0.2, "TIMEOUT": 0.5}


def read_journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in complete_lines(path)]


def wait_journal(path: Path, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    return eventually(
        lambda: read_journal(path),
        until=lambda items: len(items) >= count,
        timeout=timeout,
        interval=0.05,
    )


# -- a peer restarting in the middle of a stream -------------------------------------------


def test_peer_restart_mid_stream_delivers_every_message_once_in_order(
    sites: SiteFactory, tmp_path: Path
):
    journal = tmp_path / "b.jsonl"
    b = sites(
        "restart-b", keys={"restart-a": key_for("a")}, env={"BERRYMQ_SITE_JOURNAL": str(journal)}
    )
    a = sites(
        "restart-a",
        peers={"b": {"URL": b.rpc_url, "API_KEY": key_for("a"), "MAX_BACKOFF": 0.3}},
    )
    total, chunk = 1500, 15

    def stream() -> None:
        for start in range(0, total, chunk):
            a.twitter("order:created", chunk, start=start)
            time.sleep(0.01)

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        assert len(wait_journal(journal, 300)) >= 300
        b.stop()  # gracefully: what B accepted, A heard accepted
        down = a.wait_status(
            TESTER_KEY,
            "b",
            lambda f: f["state"] == "retrying" and "Connect" in (f["last_error"] or ""),
        )
        b.start()  # same port; B forgot A's token, A must connect again
    finally:
        streamer.join()

    assert down["state"] == "retrying", down
    assert "Connect" in (down["last_error"] or ""), down
    got = wait_journal(journal, total)
    assert [item["args"][0] for item in got] == list(range(total))
    assert len({item["uid"] for item in got}) == total
    figures = a.wait_status(TESTER_KEY, "b", lambda f: f["buffered"] == 0)
    assert (figures["state"], figures["sent"], figures["dropped"]) == ("connected", total, 0)
    assert figures["retried"] > 0
    assert "invalid token" in a.log()  # B forgot the token: A connected again
    # B calls A back again: the interconnect was made anew.
    b.twitter("task:after", 1)
    assert a.wait_for(total + 1) == total + 1
    assert a.received(origin="restart-b")[-1]["id"] == "task:after"


# -- peers that are down, refuse our key, stall or answer garbage --------------------------


class Misbehaving(BaseHTTPRequestHandler):
    """/garbage/ answers 200 with HTML; /slow/ answers after longer than the link waits."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/slow/"):
            time.sleep(1.0)
        body = b"<html>not JSON-RPC</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def faulty(sites: SiteFactory, misbehaving: str) -> tuple[Site, Site, int]:
    """A site with four one-way peers that cannot take its messages, each on its own pattern."""
    sink = sites("sink", keys={"faulty": key_for("faulty")})
    dead_port = free_port()

    def peer(url: str, pattern: str, **options: Any) -> dict[str, Any]:
        return {"URL": url, "STYLE": "oneway", "FORWARD": [pattern], **FAST_RETRY, **options}

    site = sites(
        "faulty",
        peers={
            "dead": peer(
                f"http://127.0.0.1:{dead_port}/berrymq/rpc/",
                "log:*",
                API_KEY=key_for("faulty"),
                BUFFER_SIZE=50,
            ),
            "refuses": peer(sink.rpc_url, "key:*", API_KEY="not-the-key-sink-knows"),
            "garbage": peer(f"{misbehaving}/garbage/", "junk:*"),
            "slow": peer(f"{misbehaving}/slow/", "slow:*"),
        },
    )
    return site, sink, dead_port


def test_full_buffer_drops_the_oldest_counts_and_warns_then_sends_the_rest(
    faulty: tuple[Site, Site, int], sites: SiteFactory
):
    site, _, dead_port = faulty
    site.twitter("log:line", 200)

    figures = site.wait_status(
        TESTER_KEY,
        "dead",
        lambda f: f["dropped"] == 150 and f["state"] == "retrying" and f["last_error"],
    )
    assert figures["dropped"] == 150
    assert figures["buffered"] == 50
    assert figures["state"] == "retrying"
    assert "ConnectError" in figures["last_error"]
    assert "buffer full (BUFFER_SIZE 50" in site.log()

    # The peer comes up: the 50 newest arrive, in order, and nothing is lost since.
    late = sites("late", keys={"faulty": key_for("faulty")}, port=dead_port)
    assert late.wait_for(50) == 50
    assert [item["args"][0] for item in late.received()] == list(range(150, 200))
    figures = site.wait_status(TESTER_KEY, "dead", lambda f: f["state"] == "connected")
    assert (figures["buffered"], figures["sent"], figures["dropped"]) == (0, 50, 150)


def test_a_refused_key_keeps_messages_buffered(faulty: tuple[Site, Site, int]):
    site, sink, _ = faulty
    site.twitter("key:x", 5)

    figures = site.wait_status(TESTER_KEY, "refuses", lambda f: f["last_error"] is not None)
    assert "Unauthorized" in figures["last_error"]
    assert (figures["buffered"], figures["sent"], figures["dropped"]) == (5, 0, 0)
    assert sink.count() == 0


def test_garbage_and_slow_answers_are_retried_and_reported(faulty: tuple[Site, Site, int]):
    site, _, _ = faulty
    site.twitter("junk:x", 2)
    site.twitter("slow:x", 2)

    garbage = site.wait_status(TESTER_KEY, "garbage", lambda f: f["retried"] >= 2)
    slow = site.wait_status(TESTER_KEY, "slow", lambda f: f["retried"] >= 2)
    assert "not JSON" in garbage["last_error"]
    assert "Timeout" in slow["last_error"]
    assert garbage["buffered"] == slow["buffered"] == 2
    # Through all of it the site serves its own requests at once.
    started = time.monotonic()
    site.twitter("log:more", 1)
    assert time.monotonic() - started < 1.0


# -- messages the peer cannot take ---------------------------------------------------------


def test_messages_the_peer_refuses_are_dropped_alone_and_big_batches_split(sites: SiteFactory):
    strict = sites(
        "strict",
        keys={"lax": key_for("lax")},
        env={"BERRYMQ_SITE_EXTRA": '{"MAX_MESSAGES_PER_CALL": 10, "MAX_IDENTIFIER_LENGTH": 20}'},
    )
    lax = sites(
        "lax",
        peers={
            "strict": {
                "URL": strict.rpc_url,
                "API_KEY": key_for("lax"),
                "STYLE": "oneway",
                "BATCH_SIZE": 100,
                "FLUSH_INTERVAL": 0.05,
            }
        },
    )
    lax.twitter("order:created", 40)
    lax.twitter("order:" + "x" * 30, 1, start=40)  # too long for strict
    lax.twitter("order:big", 1, start=41, args=[2**70])  # no JSON encoder takes it
    lax.twitter("order:created", 40, start=42)

    assert strict.wait_for(80, stable=0.3) == 80
    assert [item["args"][0] for item in strict.received()] == [*range(40), *range(42, 82)]
    figures = lax.wait_status(TESTER_KEY, "strict", lambda f: f["buffered"] == 0)
    assert (figures["sent"], figures["dropped"]) == (80, 2)
    assert "refused 1 message(s) (order:xxxxxxxx" in lax.log()
    assert "refused 1 message(s) (order:big): cannot be encoded as JSON" in lax.log()
    assert "MAX_MESSAGES_PER_CALL" in lax.log()  # a batch of 40 was over the limit: split


# -- fork ----------------------------------------------------------------------------------


def test_a_link_started_before_fork_restarts_in_the_child(sites: SiteFactory):
    sink = sites("fork-sink", keys={"forker": key_for("forker")})
    forker = Site(
        "forker",
        peers={"sink": {"URL": sink.rpc_url, "API_KEY": key_for("forker"), "STYLE": "oneway"}},
    )
    run = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("fork_script.py"))],
        cwd=ROOT,
        env=forker.environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    forker.close()
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)

    assert report["child_exit"] == 0, run.stderr
    assert report["parent_sent"] == 2
    assert sink.wait_for(3, stable=0.2) == 3
    got = {(item["id"], item["args"][0]) for item in sink.received()}
    assert got == {("fork:parent", 0), ("fork:parent", 1), ("fork:child", report["child_pid"])}


def test_preloaded_gunicorn_workers_each_send_on_their_own_link(sites: SiteFactory):
    sink = sites("preload-sink", keys={"preloaded": key_for("preloaded")})
    site = sites(
        "preloaded",
        workers=2,
        preload=True,
        peers={"sink": {"URL": sink.rpc_url, "API_KEY": key_for("preloaded"), "STYLE": "oneway"}},
    )
    pids: set[int] = set()

    def send(start: int) -> None:
        pids.add(site.twitter("order:created", 5, start=start))

    threads = [threading.Thread(target=send, args=(start,)) for start in range(0, 200, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sink.wait_for(200) == 200
    assert sorted(item["args"][0] for item in sink.received()) == list(range(200))
    assert len(pids) == 2, "both workers should have served (and sent)"
    assert sink.connections(TESTER_KEY) == {"oneway": 2}


# -- start-up and exit ---------------------------------------------------------------------


def run_script(name: str, site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(Path(__file__).with_name(name)), *args],
        cwd=ROOT,
        env=site.environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_what_is_buffered_at_exit_is_flushed(sites: SiteFactory):
    sink = sites("exit-sink", keys={"exiting": key_for("exiting")})
    exiting = Site(
        "exiting",
        peers={"sink": {"URL": sink.rpc_url, "API_KEY": key_for("exiting"), "STYLE": "oneway"}},
    )
    done = run_script("exit_script.py", exiting, "500")
    exiting.close()

    assert done.returncode == 0, done.stderr
    assert sink.wait_for(500) == 500
    assert [item["args"][0] for item in sink.received()] == list(range(500))


def test_exit_waits_a_bounded_time_for_a_peer_that_never_answers():
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        exiting = Site(
            "exiting-alone",
            peers={
                "silent": {
                    "URL": f"http://127.0.0.1:{silent.getsockname()[1]}/berrymq/rpc/",
                    "STYLE": "oneway",
                    "TIMEOUT": 60,
                }
            },
        )
        done = run_script("exit_script.py", exiting, "10")
        ended = time.time()
        exiting.close()

    assert done.returncode == 0, done.stderr
    exit_started = float(done.stdout.rsplit("exit starts at ", 1)[1])
    assert 4.0 < ended - exit_started < 9.0  # the 5 s the exit flush may take
    # What could not be sent is not dropped silently: the peer and the count are logged.
    assert "berryMQ peer silent (http://127.0.0.1:" in done.stderr
    assert "stopped with 10 message(s) unsent; dropped" in done.stderr


def test_a_site_starts_its_links_before_any_request(sites: SiteFactory):
    peer = sites("eager-peer", keys={"eager": key_for("eager")})
    eager = Site("eager", peers={"peer": {"URL": peer.rpc_url, "API_KEY": key_for("eager")}})
    try:
        eager.start(probe=False)  # nobody calls the site: it interconnects on its own
        deadline = time.monotonic() + 20
        while peer.connections(TESTER_KEY) != {"interconnect": 1}:
            assert time.monotonic() < deadline, eager.log()
            time.sleep(0.05)
    finally:
        eager.close()


def test_commands_do_not_start_the_links(sites: SiteFactory):
    peer = sites("lazy-peer", keys={"lazy": key_for("lazy")})
    lazy = Site("lazy", peers={"peer": {"URL": peer.rpc_url, "API_KEY": key_for("lazy")}})
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env=lazy.environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lazy.close()

    assert done.returncode == 0, done.stderr
    assert peer.connections(TESTER_KEY) == {}  # the interconnect never called
