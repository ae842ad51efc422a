"""Sites the Ruby tests start and stop themselves, built as conftest's ``clients_site`` is.

    site = clients_site_process("outage", tmp_path)   # not started
    with site:
        env = client_environ(site)                    # BERRYMQ_URL, _API_KEY, _SITE
        received(site, "app:log")                     # what its "*:*" follower got

``clients_site`` (conftest.py) serves a whole module; a test that stops its
site, or runs it on other settings (``redis_down_settings``), makes its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import SiteProcess

from .conftest import KEY, manage

__all__ = ["KEY", "client_environ", "clients_site_process", "received"]


def clients_site_process(
    name: str,
    workdir: Path,
    *,
    settings: str = "tests.clients.site_settings",
    env: dict[str, str] | None = None,
) -> SiteProcess:
    """A site like clients_site (key KEY, the same followers), migrated and not started."""
    site = SiteProcess(
        name,
        app="tests.clients.site_wsgi:application",
        settings=settings,
        ready="/received/?id=-",
        env={
            "BERRYMQ_CLIENTS_KEYS": json.dumps({"js": KEY}),
            "BERRYMQ_CLIENTS_DB": str(workdir / "db.sqlite3"),
            **(env or {}),
        },
        gunicorn={"worker_class": "gthread", "threads": 16},
        workdir=workdir,
    )
    manage(site, "migrate", "--noinput")
    return site


def client_environ(site: SiteProcess) -> dict[str, str]:
    """What a client's test process needs to find the site."""
    return {
        "BERRYMQ_URL": f"{site.base_url}/berrymq/rpc/",
        "BERRYMQ_API_KEY": KEY,
        "BERRYMQ_SITE": site.base_url,
    }


def received(site: SiteProcess, identifier: str) -> list[dict[str, Any]]:
    """What the site's "*:*" follower got with identifier, oldest first."""
    answer = site.http.get("/received/", params={"id": identifier}, timeout=30)
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()["received"]
    return items
