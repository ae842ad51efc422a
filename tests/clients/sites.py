"""The site the client tests run against: one berryMQ node with Python followers.

    with ClientSite() as site:
        site.rpc_url                  # its JSON-RPC endpoint; CLIENT_KEY is accepted
        site.received("app:log")      # what its Python "*:*" follower got with that id
        site.environ_for_client()     # BERRYMQ_URL, BERRYMQ_API_KEY, BERRYMQ_SITE

Its followers (siteapp/receivers.py) record every message and answer
talk("price:quote", ..., sku). /send/ twitters in Python. The in-memory
backend keeps tokens in the process, so it runs as one gthread worker.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import SiteProcess

__all__ = ["CLIENT_KEY", "ClientSite"]

CLIENT_KEY = "test-key-client-0123456789abcdef0123456789abcdef"


class ClientSite(SiteProcess):
    """A started-on-demand site that knows CLIENT_KEY as principal "client"."""

    def __init__(
        self,
        name: str = "client-site",
        *,
        port: int | None = None,
        berrymq: dict[str, Any] | None = None,
    ) -> None:
        """berrymq: more BERRYMQ settings (a BACKEND, say)."""
        super().__init__(
            name,
            app="tests.clients.site_wsgi:application",
            settings="tests.clients.site_settings",
            ready="/received/?id=-",
            port=port,
            env={
                "BERRYMQ_SITE_KEYS": json.dumps({"client": CLIENT_KEY}),
                "BERRYMQ_SITE_EXTRA": json.dumps(berrymq or {}),
            },
            gunicorn={"worker_class": "gthread", "threads": 16},
        )

    @property
    def rpc_url(self) -> str:
        return f"{self.base_url}/berrymq/rpc/"

    def environ_for_client(self) -> dict[str, str]:
        """What a client test process needs to find the site."""
        return {
            "BERRYMQ_URL": self.rpc_url,
            "BERRYMQ_API_KEY": CLIENT_KEY,
            "BERRYMQ_SITE": self.base_url,
        }

    def received(self, identifier: str) -> list[dict[str, Any]]:
        """What the site's "*:*" follower got with identifier, oldest first."""
        answer = self.http.get("/received/", params={"id": identifier}, timeout=30)
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["received"]
        return items

    def twitter(self, identifier: str, *args: Any, **kwargs: Any) -> str:
        """Twitter identifier on the site, in Python; return the message's uid."""
        body = {"id": identifier, "args": list(args), "kwargs": kwargs}
        answer = self.http.post("/send/", json=body, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["uid"])
