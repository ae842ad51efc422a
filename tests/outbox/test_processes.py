"""The outbox with several processes: gunicorn workers sharing PostgreSQL, and Redis.

Relays in three workers of one site share the table: each destination is
worked on by one relay at a time (an advisory lock), so nothing is sent
twice and order holds. With the Redis backend, a message leaves the table
only once Redis took the write, so a Redis restarted empty loses nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tests.backends.conftest import REDIS_SERVER, RedisServer
from tests.peering.sites import Site, key_for
from tests.support import eventually

from .conftest import Database, OutboxSite

KEY = key_for("site-a")


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_relays_in_three_workers_send_each_message_once_in_order(
    database: Database, outbox_site: OutboxSite
) -> None:
    with Site("site-b", keys={"site-a": KEY}) as b:
        peers = {"b": {"URL": b.rpc_url, "API_KEY": KEY, "STYLE": "oneway"}}
        a = outbox_site("site-a", database, peers=peers, workers=3, outbox={"BATCH": 50})
        with a:
            workers = {a.twitter_batch("order:created", 100, start=i * 100) for i in range(20)}
            b.wait_for(2000, timeout=120)
            eventually(database.pending, until=lambda n: n == 0, timeout=60)
            log = a.log()
        received = b.received()
    assert len(workers) > 1, "every request reached one worker: the test shows nothing"
    assert [item["args"][0] for item in received] == list(range(2000))
    assert "already had" not in log, "a relay sent a message another had sent"


@pytest.fixture
def private_redis() -> object:
    if not os.path.exists(REDIS_SERVER):
        reason = f"no redis-server binary at {REDIS_SERVER} to start a private Redis"
        if os.environ.get("BERRYMQ_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


def test_a_redis_restarted_empty_loses_nothing_across_processes(
    database: Database, outbox_site: OutboxSite, private_redis: RedisServer
) -> None:
    backend = {
        "BERRYMQ_SITE_BACKEND": "berrymq_django.backends.redis.RedisBackend",
        "BERRYMQ_SITE_BACKEND_OPTIONS": json.dumps({"URL": private_redis.url, "PREFIX": "ob"}),
    }
    sender = outbox_site("site-a", database, env=backend)
    with Site("site-c", env=backend) as receiver, sender:
        sent = 0
        stop = threading.Event()

        def flow() -> None:  # batches of ten committed messages, through the outage
            nonlocal sent
            while not stop.is_set():
                sender.twitter_batch("flow:tick", 10, start=sent)
                sent += 10
                time.sleep(0.01)

        thread = threading.Thread(target=flow)
        thread.start()
        try:
            receiver.wait_for(100, timeout=30)
            private_redis.stop()
            eventually(lambda: sent, until=lambda n: n > 300, timeout=30)  # while Redis is down
            assert database.pending() > 0
            private_redis.start()  # empty: no persistence
            after = sent
            eventually(lambda: sent, until=lambda n: n > after + 200, timeout=30)
        finally:
            stop.set()
            thread.join()
        eventually(database.pending, until=lambda n: n == 0, timeout=60)
        receiver.wait_for(sent, timeout=60)
        got = [item["args"][0] for item in receiver.received()]
    assert sorted(set(got)) == list(range(sent)), "a message was lost"
    assert len(got) == len(set(got)), "a message arrived twice"
