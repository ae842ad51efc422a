"""Start real berryMQ site processes (gunicorn, one gthread worker) on loopback ports.

    with Site("site-b", keys={"site-a": KEY}) as b:
        b.twitter("order:created", count=3)   # twittered inside site B
        b.received()                          # what B's "*:*" follower got
        b.status(KEY)                         # B's status JSON-RPC method

A site is configured through environment variables (site_settings.py); its
output (warnings of berrymq.peers included) goes to a log file that
``log()`` reads. ``stop()`` then ``start()`` restarts it on the same port,
with nothing remembered: tokens, uid window and received messages are gone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def key_for(name: str) -> str:
    """A made-up key, long enough for the endpoint; the same for a name every time."""
    return f"test-key-{name}-0123456789abcdef0123456789abcdef"


class Site:
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
        self.name = name
        self.port = port or free_port()
        self.keys = keys or {}
        self.peers = peers or {}
        self.extra_env = env or {}
        self.workers = workers
        self.preload = preload
        self.process: subprocess.Popen[bytes] | None = None
        fd, path = tempfile.mkstemp(prefix=f"berrymq-{name}-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        # No keep-alive: an idle connection of ours would hold up a graceful stop.
        self.http = httpx.Client(
            base_url=self.base, timeout=30.0, limits=httpx.Limits(max_keepalive_connections=0)
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc_url(self) -> str:
        return f"{self.base}/berrymq/rpc/"

    def environ(self) -> dict[str, str]:
        """The environment the site runs with (also good for manage.py against its settings)."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.peering.site_settings",
            "PYTHONPATH": str(ROOT),
            "BERRYMQ_SITE_NAME": self.name,
            "BERRYMQ_SITE_URL": self.rpc_url,
            "BERRYMQ_SITE_KEYS": json.dumps(self.keys),
            "BERRYMQ_SITE_PEERS": json.dumps(self.peers),
            **self.extra_env,
        }

    def start(self, timeout: float = 20.0, *, probe: bool = True) -> Site:
        """Start the process; with probe, wait until it answers (a request to /received/)."""
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "tests.peering.site_wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            "8",
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "3",
        ]
        if self.preload:
            command.append("--preload")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.environ(), stdout=log, stderr=subprocess.STDOUT
            )
        if not probe:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"site {self.name} exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                self.http.get("/received/?count=1", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"site {self.name} did not answer on port {self.port}:\n{self.log()}")

    def stop(self, timeout: float = 10.0, *, graceful: bool = True) -> None:
        """Stop the process: gracefully (SIGTERM: requests in progress are answered) or
        at once (SIGQUIT), killing it after timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if graceful else signal.SIGQUIT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> Site:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop(graceful=False)
        self.http.close()
        self.log_path.unlink(missing_ok=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- driving the site ---------------------------------------------------

    def twitter(
        self, identifier: str, count: int = 1, *, start: int = 0, args: list[Any] | None = None
    ) -> int:
        """Make the site twitter identifier(i, *args) for count i from start; return its pid."""
        data = {"id": identifier, "count": count, "start": start, "args": args or []}
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
        deadline = time.monotonic() + timeout
        got = self.count()
        while got < count and time.monotonic() < deadline:
            time.sleep(0.02)
            got = self.count()
        if stable:
            time.sleep(stable)
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
        deadline = time.monotonic() + timeout
        while True:
            figures = self.status(key)["peers"].get(peer, {})
            if (figures and check(figures)) or time.monotonic() >= deadline:
                return figures
            time.sleep(0.05)

    def __enter__(self) -> Site:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
