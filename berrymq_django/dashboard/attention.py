"""What needs a staff member's attention, worked out from the rows of ``report``.

The overview lists it first: a disconnected backend, a peer link retrying
(or closed, or stopped), a full queue or queue connection, dead letters,
and, with the durable outbox on, rows older than its ``WARN_SECONDS``, dead
outbox rows and the relay's last error. Each item names the page that shows
more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["attention"]


def attention(
    backend: dict[str, Any],
    links: Iterable[dict[str, Any]],
    queues: Iterable[dict[str, Any]],
    conns: Iterable[dict[str, Any]],
    dead: dict[str, Any] | None,
    box: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Return what a staff member should look at: [{"page", "text"}], worst first."""
    items = []
    if backend["state"] == "disconnected":
        error = backend["status"].get("last_error") or "no error reported"
        items.append({"page": "overview", "text": f"The backend is disconnected: {error}"})
    for link in links:
        if link.get("state") in ("retrying", "closed", "stopped"):
            error = link.get("last_error") or "no error reported"
            text = f"Peer link {link['name']} is {link['state']}: {error}"
            items.append({"page": "peers", "text": text})
    for queue in queues:
        if queue["full"]:
            text = f"{queue['label']} is full ({queue['depth']} of {queue['maxsize']})"
            items.append({"page": "queues", "text": text})
    for conn in conns:
        if conn["full"]:
            text = f"Queue connection of {conn['principal']} on {conn['pattern']} is full"
            items.append({"page": "queues", "text": text})
    if dead is not None:
        for group, count in dead.get("counts", {}).items():
            items.append({"page": "dead", "text": f"Group {group} has {count} dead letter(s)"})
        if dead.get("error"):
            items.append({"page": "dead", "text": f"Dead letters unreadable: {dead['error']}"})
    if box is not None:
        items.extend({"page": page, "text": text} for page, text in _outbox_attention(box))
    return items


def _outbox_attention(box: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (page, text) items: pending rows too old on the overview, dead ones on theirs."""
    texts = []
    if box.get("error"):
        texts.append(("overview", f"The outbox cannot be read: {box['error']}"))
    for name, figures in box.get("destinations", {}).items():
        age = figures.get("oldest_pending_seconds")
        if age is not None and age > box["warn_seconds"]:
            text = f"Outbox to {name}: {figures['pending']} pending, oldest {age:.0f} s"
            texts.append(("overview", text))
        if figures.get("dead"):
            texts.append(("dead", f"Outbox to {name}: {figures['dead']} dead message(s)"))
    relay = box.get("relay") or {}
    if relay.get("last_error"):
        texts.append(("overview", f"Outbox relay: {relay['last_error']}"))
    return texts
