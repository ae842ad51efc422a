"""Run a peering bench site (``bench/peer_site``) as a gunicorn process on loopback.

One gthread worker with 8 threads, as the in-memory backend wants; the
site is configured through environment variables (settings.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PeerSite:
    """One bench site process under gunicorn on a fixed loopback port."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        *,
        keys: dict[str, str],
        peers: dict[str, Any],
        receive: bool = True,
    ) -> None:
        self.name = name
        self.receive = receive
        self.port = _free_port()
        self.keys = keys
        self.peers = peers
        self.workdir = workdir
        self.state_path = workdir / f"{name}-state.json"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base_url, timeout=60.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc_url(self) -> str:
        return f"{self.base_url}/berrymq/rpc/"

    def start(self, timeout: float = 30.0) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.peer_site.settings",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "BERRYMQ_BENCH_NODE": self.name,
            "BERRYMQ_BENCH_SELF_URL": self.rpc_url,
            "BERRYMQ_BENCH_KEYS": json.dumps(self.keys),
            "BERRYMQ_BENCH_PEERS": json.dumps(self.peers),
            "BERRYMQ_BENCH_STATE": str(self.state_path),
            "BERRYMQ_BENCH_RECEIVE": "1" if self.receive else "0",
        }
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.peer_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "5",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"site {self.name} exited:\n{self.log()}")
            try:
                if self.http.get("/ping/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            sleep(0.05)
        raise RuntimeError(f"site {self.name} did not answer within {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> dict[str, Any]:
        """Stop gracefully (SIGTERM); return the runs its follower saw, as it wrote them."""
        if self.proc is None:
            return {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        self.state_path.unlink()
        return state

    def close(self) -> None:
        self.stop()
        self.http.close()

    def log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def send(self, run: str, n: int, rate: float = 0.0) -> float:
        """Make this site twitter n messages of run; return the seconds its loop took."""
        answer = self.http.post("/send/", json={"run": run, "n": n, "rate": rate}, timeout=600)
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
        deadline = monotonic() + timeout
        while True:
            stats = self.stats(run)
            if stats["count"] >= count or monotonic() >= deadline:
                return stats
            sleep(0.02)

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
