"""Record what this site receives, for the tests to read through /received/."""

from __future__ import annotations

import threading

from berrymq_django import following_function

lock = threading.Lock()
received: list[dict[str, object]] = []


@following_function("*:*")
def record(message):  # type: ignore[no-untyped-def]
    with lock:
        received.append(
            {"id": message.id, "uid": message.uid, "origin": message.origin, "args": message.args}
        )
