"""Run a peering bench site (``bench/peer_site``) as a gunicorn process on loopback.

One gthread worker with 8 threads, as the in-memory backend wants; the
site is configured through environment variables (settings.py). Started
and stopped by the tests' one site harness (``tests.support.SiteProcess``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import NotYet, SiteProcess, eventually, free_port

__all__ = ["PeerSite"]


class PeerSite:
    """One bench site process under gunicorn on a loopback port, and what it can be asked."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        *,
        keys: dict[str, str],
        peers: dict[str, Any],
        receive: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.state_path = workdir / f"{name}-state.json"
        port = free_port()
        self.site = SiteProcess(
            name,
            app="bench.peer_site.wsgi:application",
            settings="bench.peer_site.settings",
            ready="/ping/",
            port=port,
            env={
                "BERRYMQ_BENCH_NODE": name,
                "BERRYMQ_BENCH_SELF_URL": f"http://127.0.0.1:{port}/berrymq/rpc/",
                "BERRYMQ_BENCH_KEYS": json.dumps(keys),
                "BERRYMQ_BENCH_PEERS": json.dumps(peers),
                "BERRYMQ_BENCH_STATE": str(self.state_path),
                "BERRYMQ_BENCH_RECEIVE": "1" if receive else "0",
                **(env or {}),
            },
            gunicorn={"worker_class": "gthread", "threads": 8, "graceful_timeout": 5},
            workdir=workdir,
        )
        self.http = self.site.http

    @property
    def rpc_url(self) -> str:
        return f"{self.site.base_url}/berrymq/rpc/"

    def start(self, timeout: float = 30.0) -> None:
        self.site.start(timeout)

    def stop(self) -> dict[str, Any]:
        """Stop gracefully (SIGTERM); return the runs its follower saw, as it wrote them."""
        self.site.stop(timeout=20)
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        self.state_path.unlink()
        return state

    def close(self) -> None:
        self.site.close()

    def log(self, lines: int = 30) -> str:
        return self.site.log(lines)

    def send(
        self, run: str, n: int, rate: float = 0.0, per: int = 0, business: bool = False
    ) -> float:
        """Make this site twitter n messages of run (in transactions of per, if given, each
        writing a business row with business); return the seconds its loop took."""
        data = {"run": run, "n": n, "rate": rate, "per": per, "business": business}
        answer = self.http.post("/send/", json=data, timeout=600)
        answer.raise_for_status()
        seconds: float = answer.json()["seconds"]
        return seconds

    def stats(self, run: str, latency: bool = False) -> dict[str, Any]:
        params = {"run": run, **({"latency": "1"} if latency else {})}
        answer = self.http.get("/stats/", params=params)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data

    def wait_for(self, run: str, count: int, timeout: float) -> dict[str, Any]:
        """Poll stats until run reached count (or timeout); return the last stats."""
        try:
            return eventually(
                lambda: self.stats(run),
                until=lambda stats: stats["count"] >= count,
                timeout=timeout,
            )
        except NotYet as short:  # the figures say how far it got
            last: dict[str, Any] = short.last
            return last

    def peer_status(self, key: str) -> dict[str, Any]:
        """Return this site's JSON-RPC status (its peers' counters)."""
        body = {"jsonrpc": "2.0", "method": "status", "params": [], "id": 1}
        answer = self.http.post(self.rpc_url, json=body, headers={"Authorization": f"Bearer {key}"})
        result: dict[str, Any] = answer.json()["result"]
        return result

    def call(self, key: str, method: str, *params: Any) -> Any:
        """Call a JSON-RPC method of this site with key; return its result."""
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        answer = self.http.post(self.rpc_url, json=body, headers={"Authorization": f"Bearer {key}"})
        data: dict[str, Any] = answer.json()
        if "error" in data:
            raise RuntimeError(f"{self.name}: {method}: {data['error']}")
        return data["result"]

    def links_connected(self, key: str) -> bool:
        """Whether every peer link of this site is connected."""
        links = self.peer_status(key)["peers"].values()
        return bool(links) and all(link["state"] == "connected" for link in links)
