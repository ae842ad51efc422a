"""Fixtures for the Redis backend tests: a real Redis, a fresh prefix, real processes.

The Redis at BERRYMQ_TEST_REDIS_URL (default redis://127.0.0.1:6379/15) is
used with a prefix of its own per test, whose keys are deleted afterwards.
When no Redis answers the tests are skipped, saying why, unless
BERRYMQ_REQUIRE_REDIS=1 (as .ci/run sets): then they fail.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.dispatcher import Dispatcher
from tests.support import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("BERRYMQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@functools.cache
def _redis_problem(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def require_redis(url: str = REDIS_URL) -> str:
    """Return url if a Redis answers there; else skip (or fail with BERRYMQ_REQUIRE_REDIS=1)."""
    problem = _redis_problem(url)
    if problem is not None:
        reason = (
            f"no Redis answers at {url} ({problem}); start redis-server or set "
            "BERRYMQ_TEST_REDIS_URL"
        )
        if os.environ.get("BERRYMQ_REQUIRE_REDIS") == "1":
            pytest.fail(f"{reason} (BERRYMQ_REQUIRE_REDIS=1 makes this a failure)")
        pytest.skip(reason)
    return url


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under prefix."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"berrymq-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_prefix(redis_url, name)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client, to look at what the backend left in Redis."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
def make_dispatcher(redis_url: str, prefix: str) -> Iterator[MakeDispatcher]:
    """Build Dispatchers on their own RedisBackend sharing this test's prefix.

    Each stands for one process (its own token); it is connected and reading
    when returned, and closed after the test.
    """
    made: list[Dispatcher] = []

    def make(url: str | None = None, ready: bool = True, **options: Any) -> Dispatcher:
        backend = RedisBackend(URL=url or redis_url, PREFIX=prefix, **options)
        dispatcher = Dispatcher(backend=backend, raise_errors=True)
        made.append(dispatcher)
        if ready:
            assert backend.ready(5.0), backend.status()
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.backend.close()


# -- real processes --------------------------------------------------------------


class WorkerProcess:
    """A ``python -m tests.backends.worker`` process, driven one JSON line at a time."""

    def __init__(self, url: str, prefix: str, **options: Any) -> None:
        config = json.dumps({"URL": url, "PREFIX": prefix, **options})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.backends.worker", config],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_replies, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_replies(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the worker is gone

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def call(self, op: str, answer_within: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its reply; fail with the worker's stderr."""
        self.send(op, **params)
        return self.reply(op, answer_within)

    def send(self, op: str, **params: Any) -> None:
        """Send one command without waiting; collect its answer with reply()."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **params}) + "\n")
        self.proc.stdin.flush()

    def reply(self, op: str = "?", answer_within: float = 30.0) -> dict[str, Any]:
        """Return the answer to the oldest command sent and not answered yet."""
        try:
            line = self._lines.get(timeout=answer_within)
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError(f"worker gave no answer to {op!r}:\n{''.join(self.stderr)}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"worker failed {op!r}: {reply['traceback']}")
        return reply

    def kill(self) -> None:
        self.proc.kill()
        self._finish()

    def terminate(self) -> int:
        """Stop the worker with SIGTERM (a graceful exit); return its exit status."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._finish()
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write('{"op": "exit"}\n')
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._finish()

    def _finish(self) -> None:
        self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn(redis_url: str, prefix: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes on this test's prefix; each is ready when returned."""
    started: list[WorkerProcess] = []

    def start(count: int = 1, url: str | None = None, **options: Any) -> Any:
        workers = [WorkerProcess(url or redis_url, prefix, **options) for _ in range(count)]
        started.extend(workers)
        return workers[0] if count == 1 else workers

    yield start
    for worker in started:
        worker.close()


# -- a Redis of our own, to stop and restart -----------------------------------------


class RedisServer:
    """A redis-server on a free port in a temporary directory, for fault tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="berrymq-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            eventually(lambda: _pings(client), timeout=10, what=f"redis-server on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(redis_url: str) -> Iterator[RedisServer]:
    """A private redis-server the test may kill and restart (the shared one stays up)."""
    if not os.path.exists(REDIS_SERVER):
        reason = f"no redis-server binary at {REDIS_SERVER} to start a private Redis"
        if os.environ.get("BERRYMQ_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()
