"""The Python followers of the client tests' site: one records everything, one answers talk."""

from __future__ import annotations

import threading
from typing import Any

from berrymq_django import Message, following_function

lock = threading.Lock()
received: list[dict[str, object]] = []


@following_function("*:*")
def record(message: Message) -> None:
    item = {
        "id": message.id,
        "uid": message.uid,
        "origin": message.origin,
        "args": message.args,
        "kwargs": message.kwargs,
    }
    with lock:
        received.append(item)


@following_function("price:quote")
def quote(message: Message) -> dict[str, Any]:
    """Answer talk("price:quote", ..., sku, currency=...) with a made-up price."""
    (sku,) = message.args
    return {"sku": sku, "price": 9.9, "currency": (message.kwargs or {}).get("currency", "EUR")}
