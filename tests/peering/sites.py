"""Start real berryMQ site processes (gunicorn, one gthread worker) on loopback ports.

    with Site("site-b", keys={"site-a": KEY}) as b:
        b.twitter("order:created", count=3)   # twittered inside site B
        b.received()                          # what B's "*:*" follower got
        b.status(KEY)                         # B's status JSON-RPC method

A site is configured through environment variables (site_settings.py); its
output (warnings of berrymq.peers included) goes to a log file that
``log()`` reads. ``stop()`` then ``start()`` restarts it on the same port,
with nothing remembered: tokens, uid window and received messages are gone.
Starting, stopping and the log are tests.support.SiteProcess's.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support import SiteProcess, eventually, free_port
from tests.support.polling import source_of
from tests.support.sites import ROOT

__all__ = ["ROOT", "Site", "free_port", "key_for"]


def key_for(name: str) -> str:
    """A made-up key, long enough for the endpoint; the same for a name every time."""
    return f"test-key-{name}-0123456789abcdef0123456789abcdef"


class Site(SiteProcess):
    """One site process; its node name doubles as the principal its key is known by."""

    def __init__(
        self,
        name: str,
        *,
        keys: dict[str, str] | None = None,
        peers: dict[str, Any] | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
        workers: int = 1,
        preload: bool = False,
    ) -> None:
        port = port or free_port()
        self.keys = keys or {}
        self.peers = peers or {}
        super().__init__(
            name,
            app="tests.peering.site_wsgi:application",
            settings="tests.peering.site_settings",
            ready="/received/?count=1",
            port=port,
            env={
                "BERRYMQ_SITE_NAME": name,
                "BERRYMQ_SITE_URL": f"http://127.0.0.1:{port}/berrymq/rpc/",
                "BERRYMQ_SITE_KEYS": json.dumps(self.keys),
                "BERRYMQ_SITE_PEERS": json.dumps(self.peers),
                **(env or {}),
            },
            gunicorn={
                "workers": workers,
                "threads": 8,
                "worker_class": "gthread",
                "preload_app": preload,
            },
        )

    @property
    def rpc_url(self) -> str:
        return f"{self.base_url}/berrymq/rpc/"

    # -- driving the site ---------------------------------------------------

    def twitter(
        self, identifier: str, count: int = 1, *, start: int = 0, args: list[Any] | None = None
    ) -> int:
        """Make the site twitter identifier(i, *args) for count i from start; return its pid."""
        data = {"id": identifier, "count": count, "start": start, "args": args or []}
        response = self.http.post("/send/", json=data, timeout=60)
        response.raise_for_status()
        return int(response.json()["pid"])

    def twitter_batch(
        self, identifier: str, count: int, *, start: int = 0, rollback: bool = False
    ) -> int:
        """Make the site twitter_on_commit count messages in one outbox ``atomic()`` block
        (rolled back, with rollback); return the pid of the worker that did."""
        data = {
            "id": identifier,
            "count": count,
            "start": start,
            "atomic": "rollback" if rollback else "commit",
        }
        response = self.http.post("/send/", json=data, timeout=60)
        response.raise_for_status()
        return int(response.json()["pid"])

    def received(self, origin: str | None = None) -> list[dict[str, Any]]:
        """What the site's "*:*" follower got, oldest first (only from origin, if given)."""
        items = self.http.get("/received/", timeout=30).json()["received"]
        return [item for item in items if origin is None or item["origin"] == origin]

    def count(self) -> int:
        return int(self.http.get("/received/?count=1", timeout=10).json()["count"])

    def wait_for(self, count: int, timeout: float = 20.0, *, stable: float = 0.0) -> int:
        """Wait until the follower got count messages; then, with stable, that no more come."""
        got = eventually(
            self.count,
            until=lambda got: got >= count,
            timeout=timeout,
            what=f"{self.name}'s follower to count {count} messages",
        )
        if stable:
            time.sleep(stable)  # nothing announces that no more will come: watch a while
            got = self.count()
        return got

    def status(self, key: str) -> dict[str, Any]:
        """Call the site's status JSON-RPC method with key."""
        body = {"jsonrpc": "2.0", "method": "status", "params": [], "id": 1}
        answer = self.http.post(
            "/berrymq/rpc/", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        data: dict[str, Any] = answer.json()
        assert "result" in data, data
        result: dict[str, Any] = data["result"]
        return result

    def connections(self, key: str) -> dict[str, int]:
        """The site's JSON-RPC connections by style (``{"queue": 1}``), from status."""
        status = self.status(key)
        by_style: dict[str, int] = status.get("connections_by_style", status["connections"])
        return by_style

    def wait_status(self, key: str, peer: str, check: Any, timeout: float = 20.0) -> dict[str, Any]:
        """Poll status until check(peer's figures) is true; return the figures."""
        figures: dict[str, Any] = eventually(
            lambda: self.status(key)["peers"].get(peer, {}),
            until=lambda figures: bool(figures) and check(figures),
            timeout=timeout,
            interval=0.05,
            what=f"{self.name}'s link {peer!r} to pass {source_of(check)}",
        )
        return figures
