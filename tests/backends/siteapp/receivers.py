"""Record, in each worker process, what its followers receive.

``record`` keeps the messages of "site:*" in memory (read back with GET
/received/). The follower-group tests count, in files that outlive a killed
worker, what ran where: each follower below appends "<kind> <pid> <uid>
<identifier>" to ``$BERRYMQ_SITE_RECORDS/<pid>.log`` (nothing without it).
"""

from __future__ import annotations

import os
import threading

from berrymq_django import following_function

lock = threading.Lock()
received: list[dict[str, object]] = []


@following_function("site:*")
def record(message):  # type: ignore[no-untyped-def]
    with lock:
        received.append({"id": message.id, "uid": message.uid, "args": list(message.args)})


def _write(kind: str, message) -> None:  # type: ignore[no-untyped-def]
    records = os.environ.get("BERRYMQ_SITE_RECORDS")
    if records:
        pid = os.getpid()
        with open(os.path.join(records, f"{pid}.log"), "a") as log:
            log.write(f"{kind} {pid} {message.uid} {message.id}\n")


@following_function("grouped:*", group="recorders")
def record_grouped(message):  # type: ignore[no-untyped-def]
    _write("grouped", message)


@following_function("mixed:*", group="mixed")
def mixed_grouped(message):  # type: ignore[no-untyped-def]
    _write("mixed-grouped", message)


@following_function("mixed:*")
def mixed_plain(message):  # type: ignore[no-untyped-def]
    _write("mixed-plain", message)


@following_function("flaky:*", group="flaky")
def flaky(message):  # type: ignore[no-untyped-def]
    """Fail while the file "failing" is in the records directory."""
    _write("flaky-call", message)
    records = os.environ.get("BERRYMQ_SITE_RECORDS", "")
    if os.path.exists(os.path.join(records, "failing")):
        raise RuntimeError("flaky is failing")
    _write("flaky-ok", message)
