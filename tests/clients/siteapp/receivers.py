"""The Python followers of the client test site: a recorder of everything, and a price quote.

``record`` keeps every message for /received/; ``quote`` answers talk("price:quote",
..., "SKU") with ``{"sku": "SKU", "price": "9.90", "by": "python"}``.
"""

from __future__ import annotations

import threading
from typing import Any

from berrymq_django import Message, following_function

lock = threading.Lock()
received: list[dict[str, Any]] = []


@following_function("*:*")
def record(message: Message) -> None:
    item = {
        "id": message.id,
        "uid": message.uid,
        "origin": message.origin,
        "args": list(message.args),
        "kwargs": message.kwargs,
        "reply_to": message.reply_to,
    }
    with lock:
        received.append(item)


@following_function("price:quote")
def quote(message: Message) -> dict[str, str]:
    return {"sku": str(message.args[0]), "price": "9.90", "by": "python"}
