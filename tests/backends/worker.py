"""A berryMQ process for the multi-process tests, driven by JSON lines on stdin.

    python -m tests.backends.worker '{"URL": "redis://...", "PREFIX": "..."}'

Each line on stdin is a command ``{"op": ..., ...}``; each gets one JSON line
back on stdout (``{"error": "..."}`` when it failed). It uses a private
Dispatcher on the Redis backend, without Django settings. SIGTERM ends it
gracefully, as it ends a gunicorn worker: its queues are closed and the
lifecycle stops the backend at exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.lifecycle import lifecycle
from berrymq_django.core.message import Message
from berrymq_django.core.queue import Empty, Queue
from berrymq_django.rpc.connections import Connection, new_token
from tests.support import NotYet, eventually


def _record(message: Message) -> list[Any]:
    return [message.id, list(message.args), message.kwargs, message.uid, message.origin]


class Worker:
    def __init__(self, options: dict[str, Any]) -> None:
        self.backend = RedisBackend(**options)
        self.dispatcher = Dispatcher(backend=self.backend)
        self.records: dict[str, list[list[Any]]] = {}
        self.queues: dict[str, Queue] = {}
        self.lock = threading.Lock()

    # -- commands ---------------------------------------------------------------

    def op_ready(self, timeout: float = 10.0) -> dict[str, Any]:
        ready = self.backend.ready(timeout)
        return {"ready": ready, "token": self.backend.token, "pid": os.getpid()}

    def op_follow(self, pattern: str, name: str) -> dict[str, Any]:
        records = self.records.setdefault(name, [])

        def follower(message: Message) -> None:
            with self.lock:
                records.append(_record(message))

        self.dispatcher.register_function(pattern, follower)
        return {}

    def op_answer(self, pattern: str, result: Any) -> dict[str, Any]:
        self.dispatcher.register_function(pattern, lambda message: result)
        return {}

    def op_received(
        self, name: str, count: int = 0, timeout: float = 10.0, settle: float = 0.0
    ) -> dict[str, Any]:
        # Short of count at the deadline, answer what came: the test compares.
        with contextlib.suppress(NotYet):
            eventually(
                lambda: len(self.records.get(name, ())),
                until=lambda got: got >= count,
                timeout=timeout,
                interval=0.005,
            )
        time.sleep(settle)  # let duplicates, if any, arrive
        with self.lock:
            return {"messages": list(self.records.get(name, ()))}

    def op_twitter(
        self, id: str, n: int = 1, start: int = 0, kwargs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        twitter = self.dispatcher.twitter
        uids = [twitter(id, i, **(kwargs or {})).uid for i in range(start, start + n)]
        return {"flushed": self.backend.flush(10.0), "uids": uids}

    def op_talk(self, id: str, callback: str, args: list[Any]) -> dict[str, Any]:
        results = self.dispatcher.talk(id, callback, *args)
        return {"results": results, "flushed": self.backend.flush(10.0)}

    def op_queue(self, name: str, pattern: str, shared: bool = False, maxsize: int = 0) -> dict:
        self.queues[name] = Queue(
            pattern, shared=shared, maxsize=maxsize, dispatcher=self.dispatcher
        )
        return {}

    def op_take(self, name: str, most: int = 1_000_000, timeout: float = 0.5) -> dict[str, Any]:
        """Take up to ``most`` messages, stopping when none came for ``timeout`` seconds."""
        taken = []
        queue = self.queues[name]
        while len(taken) < most:
            try:
                taken.append(queue.get(timeout=timeout).args[0])
            except Empty:
                break
        return {"args": taken}

    def op_open_connection(self, identifier: str, ttl: float = 60.0, maxsize: int = 0) -> dict:
        connection = Connection(
            token=new_token(),
            principal="tests",
            style="queue",
            ttl=ttl,
            identifier=identifier,
            maxsize=maxsize,
        )
        self.backend.connection_state.open_connection(connection)
        return {"token": connection.token}

    def op_connection_take(self, token: str, most: int = 1_000_000, timeout: float = 0.5) -> dict:
        connection = self.backend.connection_state.get_connection(token)
        if connection is None:
            return {"args": None}
        queue = self.backend.connection_state.connection_queue(connection)
        taken = []
        while len(taken) < most:
            try:
                taken.append(queue.get(timeout=timeout).args[0])
            except Empty:
                break
        return {"args": taken}

    def op_status(self) -> dict[str, Any]:
        return self.backend.status()

    def op_start_site(self) -> dict[str, Any]:
        """Start the lifecycle, as a site does when it is ready."""
        lifecycle.start()
        return {"connected": self._connected(10.0)}

    def _connected(self, timeout: float) -> bool:
        """Wait for the backend to connect without starting it."""
        deadline = time.monotonic() + timeout
        while not self.backend.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.backend.connected

    def op_fork(self, name: str, count: int, ready_file: str, result_file: str, reply: str) -> dict:
        """Fork; the child reports on files, receives ``count`` messages, twitters ``reply``."""
        pid = os.fork()
        if pid:
            return {"child": pid}
        try:  # the child: the backend has a new token, and no threads of the parent
            self.records[name].clear()  # the parent's, copied
            # A started site restarts the backend in the child by itself; else start it.
            ready = self._connected(10.0) if lifecycle.started else self.backend.ready(10.0)
            _write(ready_file, {"ready": ready, "token": self.backend.token, "pid": os.getpid()})
            received = self.op_received(name, count, timeout=10.0, settle=0.2)["messages"]
            self.dispatcher.twitter(reply, os.getpid())
            flushed = self.backend.flush(10.0)
            _write(result_file, {"messages": received, "flushed": flushed})
            self.backend.close()
        finally:
            os._exit(0)

    def op_reap(self, pid: int) -> dict[str, Any]:
        _, status = os.waitpid(pid, 0)
        return {"status": status}


def _write(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _graceful_exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # unwind and exit normally, as gunicorn's workers do on SIGTERM


def serve(worker: Worker) -> None:
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op == "exit":
            return
        try:
            reply = getattr(worker, f"op_{op}")(**command)
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main() -> None:
    signal.signal(signal.SIGTERM, _graceful_exit)
    worker = Worker(json.loads(sys.argv[1]))
    try:
        serve(worker)
    finally:
        for queue in worker.queues.values():
            queue.close()  # as a consumer's ``with Queue(...)`` block does
    # On SIGTERM the lifecycle stops the backend at exit instead.
    worker.backend.close()


if __name__ == "__main__":
    main()
