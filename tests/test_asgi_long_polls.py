"""Long polls under ASGI: a real uvicorn process holds many waiting gets without a thread each.

Under ASGI Django runs each sync view in a thread of its own, which a
waiting get would hold, and which a client that goes away cannot stop; these
tests need the endpoint's async path to pass. The site is the peering
test site (tests/peering/site_settings.py) served by uvicorn; requests go
over raw asyncio sockets (tests/support/rawhttp.py), a few KB each. The
conformance kit, run against the same site, checks every protocol rule on
the async path.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berrymq_django.conformance import rules_for
from tests.support import SiteProcess, eventually
from tests.support.rawhttp import HTTPRequest, post
from tests.support.sites import ROOT

KEY = "asgi-poller-key-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {KEY}"}
RPC = "/berrymq/rpc/"
POLLS = 500
TIMEOUT = -32001


@pytest.fixture(scope="module")
def site() -> Iterator[SiteProcess]:
    process = SiteProcess(
        "asgi",
        app="tests.peering.site_asgi:application",
        settings="tests.peering.site_settings",
        ready="/received/?count=1",
        env={
            "BERRYMQ_SITE_NAME": "asgi-site",
            "BERRYMQ_SITE_KEYS": json.dumps({"poller": KEY}),
            "BERRYMQ_SITE_EXTRA": json.dumps({"MAX_POLL_SECONDS": 120}),
        },
        server="uvicorn",
        uvicorn={"backlog": 2048},
    )
    with process:
        yield process


def call(method: str, params: Any, id: int = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).encode()


def rpc(site: SiteProcess, method: str, params: Any = None) -> Any:
    """Call method through the site's httpx client; return its result."""
    response = site.http.post(RPC, content=call(method, params or []), headers=BEARER)
    answer = response.json()
    assert "result" in answer, answer
    return answer["result"]


def waiting_gets(site: SiteProcess) -> int:
    count: int = rpc(site, "status")["waiting_gets"]
    return count


def established(port: int) -> int:
    """Count the TCP connections to port on this machine that are open (Linux /proc)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01":
                count += 1
    return count


def threads(site: SiteProcess) -> int:
    """Return how many threads the server process runs now (Linux /proc)."""
    for line in Path(f"/proc/{site.pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for pid {site.pid}")


def twitter(site: SiteProcess, identifier: str) -> None:
    response = site.http.post("/send/", json={"id": identifier})
    assert response.status_code == 200, response.text


def test_one_message_wakes_every_waiting_poll(site: SiteProcess) -> None:
    tokens = rpc_batch(site, [("connect_via_queue", ["wake:*", 300])] * POLLS)

    threads_before = threads(site)

    async def run() -> list[tuple[int, bytes]]:
        polls = [await HTTPRequest.send(site.port, RPC, call("get", [t]), BEARER) for t in tokens]
        # Every poll waits at once...
        await asyncio.to_thread(
            eventually,
            lambda: waiting_gets(site) == POLLS,
            timeout=60,
            what=f"{POLLS} gets to wait",
        )
        # ... and none holds a thread (Django would give each sync view one of its own).
        assert threads(site) < threads_before + POLLS // 10
        await asyncio.to_thread(twitter, site, "wake:up")
        return await asyncio.wait_for(asyncio.gather(*(p.response() for p in polls)), 120)

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [200] * POLLS
    messages = [json.loads(body)["result"] for _, body in answers]
    assert {m["id"] for m in messages} == {"wake:up"}
    assert len({m["uid"] for m in messages}) == 1  # the one message, once to each queue
    assert waiting_gets(site) == 0


def django_requests(site: SiteProcess) -> int:
    """How many requests Django's request cycle has started in the site (request_started)."""
    started: int = site.http.get("/requests/").json()["started"]
    return started


def test_waiting_gets_are_answered_before_djangos_request_cycle(site: SiteProcess) -> None:
    # LongPollMiddleware (tests/peering/site_asgi.py) answers a get with an API key
    # itself; a get with a session, another method or a batch goes through Django.
    tokens = rpc_batch(site, [("connect_via_queue", ["lean:*", 60])] * 50)
    before = django_requests(site)

    async def run() -> list[tuple[int, bytes]]:
        polls = [await HTTPRequest.send(site.port, RPC, call("get", [t]), BEARER) for t in tokens]
        await asyncio.to_thread(
            eventually, lambda: waiting_gets(site) == len(tokens), timeout=30, what="gets to wait"
        )
        await asyncio.to_thread(twitter, site, "lean:up")
        return await asyncio.wait_for(asyncio.gather(*(p.response() for p in polls)), 60)

    answers = asyncio.run(run())
    assert {json.loads(body)["result"]["id"] for _, body in answers} == {"lean:up"}
    # The status polls and the twitter went through Django; none of the 50 gets did.
    during = django_requests(site) - before
    assert during < len(tokens), f"{during} requests went through Django"
    # A get in a batch is Django's: the cycle counts it (and the count's own request).
    before = django_requests(site)
    batch = b"[" + call("get", [tokens[0], False]) + b"]"
    answer = site.http.post(RPC, content=batch, headers=BEARER).json()
    assert answer[0]["error"]["code"] == TIMEOUT
    assert django_requests(site) - before == 2


def rpc_batch(site: SiteProcess, calls: list[tuple[str, Any]]) -> list[Any]:
    body = json.dumps(
        [{"jsonrpc": "2.0", "method": m, "params": p, "id": i} for i, (m, p) in enumerate(calls)]
    )
    answers = site.http.post(RPC, content=body, headers=BEARER).json()
    return [a["result"] for a in sorted(answers, key=lambda a: a["id"])]


def test_poll_timeout_answers_timeout_at_its_deadline(site: SiteProcess) -> None:
    token = rpc(site, "connect_via_queue", ["quiet:*", 60])

    async def run() -> tuple[float, tuple[int, bytes]]:
        started = time.monotonic()
        answer = await post(site.port, RPC, call("get", [token, True, 0.5]), BEARER)
        return time.monotonic() - started, answer

    elapsed, (status, body) = asyncio.run(run())
    assert status == 200
    assert json.loads(body) == {
        "jsonrpc": "2.0",
        "error": {"code": TIMEOUT, "message": "timeout"},
        "id": 1,
    }
    assert elapsed >= 0.5  # it waited for its timeout, not less
    assert waiting_gets(site) == 0


def test_client_disconnect_frees_the_waiter(site: SiteProcess) -> None:
    tokens = rpc_batch(site, [("connect_via_queue", ["gone:*", 60])] * 20)

    async def run() -> None:
        polls = [await HTTPRequest.send(site.port, RPC, call("get", [t]), BEARER) for t in tokens]
        await asyncio.to_thread(
            eventually, lambda: waiting_gets(site) == len(tokens), timeout=30, what="gets to wait"
        )
        assert established(site.port) >= len(tokens)
        for poll in polls:
            poll.abort()

    asyncio.run(run())
    eventually(lambda: waiting_gets(site) == 0, timeout=30, what="the waiters to go")
    eventually(lambda: established(site.port) == 0, timeout=30, what="the connections to close")
    # Nothing was taken from the queues: a message sent now is there for the next get.
    twitter(site, "gone:later")
    assert rpc(site, "get_nowait", [tokens[0]])["id"] == "gone:later"


def test_async_path_refuses_callers_without_a_valid_key(site: SiteProcess) -> None:
    token = rpc(site, "connect_via_queue", ["auth:*", 60])

    async def run() -> list[tuple[int, bytes]]:
        body = call("get", [token, True, 30])
        return [
            await post(site.port, RPC, body),
            await post(site.port, RPC, body, {"Authorization": "Bearer wrong"}),
            await post(site.port, RPC, body, {"Authorization": "Basic cG9sbGVyOm5vcGU="}),
        ]

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [401, 401, 401]
    assert {json.loads(body)["error"]["code"] for _, body in answers} == {-32004}
    assert waiting_gets(site) == 0


@pytest.mark.parametrize("peer", [False, True], ids=["client", "peer"])
def test_the_conformance_kit_passes_against_the_asgi_site(site: SiteProcess, peer: bool) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "berrymq_django.conformance",
            f"{site.base_url}{RPC}",
            "--api-key",
            KEY,
            *(["--peer"] if peer else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    expected = len(rules_for(peer=peer))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{expected} of {expected} rules passed" in done.stdout, done.stdout
