"""The outbox end to end, on SQLite and PostgreSQL: transactions, a crash, order.

Site A has the outbox on and site B as a one-way peer; B's "*:*" follower
records what arrives (see tests/peering/siteapp).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from berrymq_django.rpc.client import RPCClient
from tests.peering.sites import ROOT, Site, free_port, key_for
from tests.support import eventually

from .conftest import Database, OutboxSite

KEY = key_for("site-a")


def _peer(b_port: int) -> dict[str, object]:
    return {
        "b": {
            "URL": f"http://127.0.0.1:{b_port}/berrymq/rpc/",
            "API_KEY": KEY,
            "STYLE": "oneway",
            "MAX_BACKOFF": 0.5,
        }
    }


def test_a_rolled_back_message_goes_nowhere_and_a_committed_one_arrives(
    database: Database, outbox_site: OutboxSite
) -> None:
    with Site("site-b", keys={"site-a": KEY}) as b:
        a = outbox_site("site-a", database, peers=_peer(b.port))
        with a:
            a.http.post(
                "/send/", json={"id": "order:rolled", "count": 3, "atomic": "rollback"}
            ).raise_for_status()
            a.http.post(
                "/send/", json={"id": "order:committed", "count": 3, "atomic": "commit"}
            ).raise_for_status()
            b.wait_for(3, timeout=30)
            eventually(database.pending, until=lambda n: n == 0, timeout=30)
            # A's own follower ran at commit, for the committed block only.
            assert [item["id"] for item in a.received()] == ["order:committed"] * 3
        assert [(m["id"], m["args"]) for m in b.received()] == [
            ("order:committed", [i]) for i in range(3)
        ]
        rolled = database.query(
            "SELECT count(*) FROM berrymq_outbox WHERE identifier = 'order:rolled'"
        )
        assert rolled[0][0] == 0


def test_messages_written_while_the_peer_is_down_survive_a_kill_and_arrive_once_in_order(
    database: Database, outbox_site: OutboxSite
) -> None:
    b_port = free_port()
    a = outbox_site("site-a", database, peers=_peer(b_port))
    b = Site("site-b", keys={"site-a": KEY}, port=b_port)
    try:
        with a:
            for start in range(0, 5000, 1000):
                worker = a.twitter_batch("order:created", 1000, start=start)
            assert database.pending() == 5000
            # SIGKILL: nothing of A's memory survives, only the table.
            os.kill(worker, signal.SIGKILL)
            assert a.process is not None
            a.process.kill()
            a.process.wait()
            a.process = None
            a.start()
            b.start()
            b.wait_for(5000, timeout=120)
            eventually(database.pending, until=lambda n: n == 0, timeout=60)
            received = b.received()
            assert len(received) == 5000
            assert len({item["uid"] for item in received}) == 5000
            assert [item["args"][0] for item in received] == list(range(5000))
    finally:
        b.close(show_log=True)


def test_messages_that_arrive_through_the_endpoint_and_go_on_are_written_first(
    database: Database, outbox_site: OutboxSite
) -> None:
    b_port = free_port()
    tester = key_for("tester")
    a = outbox_site("site-a", database, peers=_peer(b_port), keys={"tester": tester})
    b = Site("site-b", keys={"site-a": KEY}, port=b_port)
    try:
        with a, RPCClient(a.rpc_url, tester) as client:
            token = client.call("connect_oneway", 60)
            wire = [{"id": "order:relayed", "args": [i], "uid": f"u-{i}"} for i in range(50)]
            assert client.call("send_messages", token, wire)["accepted"] == 50
            assert database.pending() == 50  # B is down: the table holds them
            b.start()
            b.wait_for(50, timeout=60)
            eventually(database.pending, until=lambda n: n == 0, timeout=30)
        assert [item["args"][0] for item in b.received()] == list(range(50))
    finally:
        b.close(show_log=True)


def test_with_relay_off_the_site_only_writes_and_berrymq_relay_sends(
    database: Database, outbox_site: OutboxSite
) -> None:
    with Site("site-b", keys={"site-a": KEY}) as b:
        a = outbox_site("site-a", database, peers=_peer(b.port), outbox={"RELAY": False})
        with a:
            a.twitter_batch("order:created", 20)
            time.sleep(1.0)  # showing that nothing is sent: no relay runs in the site
            assert (database.pending(), b.count()) == (20, 0)
            done = subprocess.run(
                [sys.executable, "-m", "django", "berrymq_relay", "--once"],
                cwd=ROOT,
                env=a.environ(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            assert "Sent 20 message(s)" in done.stdout
            assert database.pending() == 0
            assert [item["args"][0] for item in b.received()] == list(range(20))
