"""Start real berryMQ site processes (gunicorn, one worker with threads) on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.keys = keys or {}
        self.peers = peers or {}
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc_url(self) -> str:
        return f"{self.base}/berrymq/rpc/"

    def start(self, timeout: float = 20.0) -> Site:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.peering.site_settings",
            "PYTHONPATH": str(ROOT),
            "BERRYMQ_SITE_NAME": self.name,
            "BERRYMQ_SITE_URL": self.rpc_url,
            "BERRYMQ_SITE_KEYS": json.dumps(self.keys),
            "BERRYMQ_SITE_PEERS": json.dumps(self.peers),
            **self.extra_env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tests.peering.site_wsgi:application",
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
                "3",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"site {self.name} exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.base}/received/?count=1", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"site {self.name} did not answer on port {self.port}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def twitter(self, identifier: str, count: int = 1) -> None:
        httpx.post(f"{self.base}/send/", json={"id": identifier, "count": count}, timeout=30)

    def received(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.base}/received/", timeout=10).json()["received"])

    def count(self) -> int:
        return int(httpx.get(f"{self.base}/received/?count=1", timeout=10).json()["count"])

    def wait_for(self, count: int, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        got = self.count()
        while got < count and time.monotonic() < deadline:
            time.sleep(0.05)
            got = self.count()
        return got

    def __enter__(self) -> Site:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
