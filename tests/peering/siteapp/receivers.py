"""Record what this site receives, for the tests to read through /received/.

With BERRYMQ_SITE_JOURNAL set, each message is also appended to that file as
a JSON line, so what a site received survives its restart.
"""

from __future__ import annotations

import json
import os
import threading

from berrymq_django import Message, following_function

lock = threading.Lock()
received: list[dict[str, object]] = []
JOURNAL = os.environ.get("BERRYMQ_SITE_JOURNAL")


@following_function("*:*")
def record(message: Message) -> None:
    item = {
        "id": message.id,
        "uid": message.uid,
        "origin": message.origin,
        "args": message.args,
        "kwargs": message.kwargs,
        "pid": os.getpid(),
    }
    with lock:
        received.append(item)
        if JOURNAL:
            with open(JOURNAL, "a") as journal:
                journal.write(json.dumps(item) + "\n")
