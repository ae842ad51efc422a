"""Long polls under ASGI on the Redis backend: each blocking get gets a thread of its own.

The Redis state is read over a blocking client, so under ASGI a waiting get
still waits in a thread (README, "Long polls under ASGI"). What this checks
is that they wait side by side: Python's default executor would hold a
handful at a time and queue the rest behind them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SiteProcess, eventually
from tests.support.rawhttp import HTTPRequest

from .conftest import delete_prefix, require_redis

KEY = "asgi-redis-poller-key-0123456789ab"
BEARER = {"Authorization": f"Bearer {KEY}"}
RPC = "/berrymq/rpc/"
POLLS = 20  # more than Python's default executor has threads on a small machine


@pytest.fixture(scope="module")
def site() -> Iterator[SiteProcess]:
    url = require_redis()
    prefix = f"berrymq-test-{uuid.uuid4().hex[:12]}"
    process = SiteProcess(
        "asgi-redis",
        app="tests.peering.site_asgi:application",
        settings="tests.peering.site_settings",
        ready="/received/?count=1",
        env={
            "BERRYMQ_SITE_NAME": "asgi-redis",
            "BERRYMQ_SITE_KEYS": json.dumps({"poller": KEY}),
            "BERRYMQ_SITE_BACKEND": "berrymq_django.backends.redis.RedisBackend",
            "BERRYMQ_SITE_BACKEND_OPTIONS": json.dumps({"URL": url, "PREFIX": prefix}),
        },
        server="uvicorn",
    )
    try:
        with process:
            yield process
    finally:
        delete_prefix(url, prefix)


def threads(site: SiteProcess) -> int:
    for line in Path(f"/proc/{site.pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for pid {site.pid}")


def test_blocking_gets_wait_side_by_side_and_all_wake(site: SiteProcess) -> None:
    calls = [
        {"jsonrpc": "2.0", "method": "connect_via_queue", "params": ["rwake:*", 120], "id": i}
        for i in range(POLLS)
    ]
    answers = site.http.post(RPC, json=calls, headers=BEARER).json()
    tokens = [a["result"] for a in sorted(answers, key=lambda a: a["id"])]
    before = threads(site)

    async def run() -> list[tuple[int, bytes]]:
        polls = []
        for token in tokens:
            call = {"jsonrpc": "2.0", "method": "get", "params": [token, True, 60], "id": 1}
            body = json.dumps(call)
            polls.append(await HTTPRequest.send(site.port, RPC, body.encode(), BEARER))
        await asyncio.to_thread(
            eventually,
            lambda: threads(site),
            lambda count: count >= before + POLLS,
            timeout=60,
            what=f"{POLLS} gets waiting at once, a thread each",
        )
        sent = await asyncio.to_thread(site.http.post, "/send/", json={"id": "rwake:up"})
        assert sent.status_code == 200, sent.text
        return await asyncio.wait_for(asyncio.gather(*(p.response() for p in polls)), 120)

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [200] * POLLS
    assert {json.loads(body)["result"]["id"] for _, body in answers} == {"rwake:up"}
