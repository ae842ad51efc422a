"""Queue connections for the rules: open one for a run's identifier, pull it, see it empty.

A rule observes delivery the way any client does: through a queue
connection (``connect_via_queue``) that collects what the endpoint delivers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..rpc.protocol import TIMEOUT
from .check import Failure, Kit, short

__all__ = ["empty", "pull", "queue"]


@contextlib.contextmanager
def queue(kit: Kit, identifier: str, ttl: float = 120) -> Iterator[str]:
    """Open a queue connection for identifier; yield its token; close it after."""
    token = kit.endpoint.call("connect_via_queue", identifier, ttl)
    if not isinstance(token, str) or not token:
        raise Failure(f"connect_via_queue: expected a token string, got {short(token)}")
    try:
        yield token
    finally:
        with contextlib.suppress(Failure):
            kit.endpoint.call("close_connection", token)


def pull(kit: Kit, token: str) -> dict[str, Any]:
    """Return the next message of the queue, waiting up to kit.wait seconds (Failure if none)."""
    wait = min(kit.wait, kit.limits["MAX_POLL_SECONDS"])
    reply = kit.endpoint.response(kit.endpoint.request("get", token, True, wait), wait=wait)
    error = reply.get("error")
    if isinstance(error, dict) and error.get("code") == TIMEOUT:
        raise Failure(f"no message reached the queue within {wait:g} s")
    if error is not None:
        raise Failure(f"get: expected a message, got error {short(error)}")
    message = reply["result"]
    if not isinstance(message, dict):
        raise Failure(f"get: expected a message object, got {short(message)}")
    return message


def empty(kit: Kit, token: str, what: str) -> None:
    """Check the queue holds nothing now (get_nowait is -32001); Failure naming what came."""
    reply = kit.endpoint.response(kit.endpoint.request("get_nowait", token))
    error = reply.get("error")
    if isinstance(error, dict) and error.get("code") == TIMEOUT:
        return
    raise Failure(f"{what}: the queue held {short(reply.get('result', error), 120)}")
