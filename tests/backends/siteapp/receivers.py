"""Record, in each worker process, what its follower receives."""

from __future__ import annotations

import threading

from berrymq_django import following_function

lock = threading.Lock()
received: list[dict[str, object]] = []


@following_function("site:*")
def record(message):  # type: ignore[no-untyped-def]
    with lock:
        received.append({"id": message.id, "uid": message.uid, "args": list(message.args)})
