"""Peering faults at the edges between sites, through real site processes.

A peer that restarts while messages wait for it, callers that would make a
site grow without bound, messages that come back to where they started, and
peers that answer too slowly.
"""

from __future__ import annotations

import time

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
