"""What the dashboard pages show, gathered from the running site as plain dicts.

Each function reads what the dispatcher, the backend, the connection state
and the peer links report, and returns rows ready for a template: nothing
here renders HTML (the templates escape every value). Secrets never leave:
connection tokens and worker tokens are cut to their first characters
(``short``), and a connection is named by a digest of its token
(``connection_id``), which is what the close form posts back.

Figures a site may not have (per-follower counts before the dispatcher
collects them, dead letters on a backend that keeps none) come back as
None, and the pages say so instead of failing.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.exceptions import BerryMQError
from berrymq_django.core.identifier import parse_identifier
from berrymq_django.introspection import follower_rows
from berrymq_django.peering import connection_state, peers
from berrymq_django.rpc.connections import Connection

from . import STARTED_AT

__all__ = [
    "TRACEBACK_LINES",
    "backend_report",
    "connection_id",
    "connections",
    "dead_letters",
    "duration",
    "find_connection",
    "followers",
    "hide_passwords",
    "local_queues",
    "outbox",
    "outbox_dead_letters",
    "peer_links",
    "short",
    "site_figures",
]

#: Lines of a follower's last traceback the followers page shows (its end: where it failed).
TRACEBACK_LINES = 12
#: Characters of a token or key shown; the rest is never sent to the browser.
SHOWN_CHARS = 6


def short(secret: str | None) -> str:
    """Return the first SHOWN_CHARS characters of a token followed by "…" ("" for None)."""
    if not secret:
        return ""
    return secret[:SHOWN_CHARS] + "…"


# "scheme://name:key@host": a peer's URL may carry berryMQ 0.3-style credentials.
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]*@")


def hide_passwords(text: str | None) -> str | None:
    """Return text with the password of every URL in it replaced by "***"."""
    return None if text is None else _USERINFO.sub(r"\1***@", text)


def connection_id(token: str) -> str:
    """Return the name the pages give a connection: 16 hex digits of its token's SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def when(epoch: float | None) -> datetime | None:
    """Return epoch seconds as an aware UTC datetime (None stays None)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def duration(seconds: float) -> str:
    """Return seconds as its two largest units: "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h"."""
    whole = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if whole >= size or (unit == "s" and not parts):
            parts.append(f"{whole // size} {unit}")
            whole %= size
    return " ".join(parts[:2])


# -- overview -------------------------------------------------------------


def backend_report(dispatcher: Dispatcher | None = None) -> dict[str, Any]:
    """Return the backend's class path, its state ("connected"...) and its status() items.

    "lag" is status()["lag_seconds"] (float seconds; None when the backend has
    no such figure or no message came in yet).
    """
    dispatcher = dispatcher or default_dispatcher
    backend = dispatcher.backend
    try:
        status = dict(backend.status())
    except BerryMQError as exc:
        status = {"connected": False, "last_error": str(exc)}
    connected = status.get("connected")
    state = "unknown" if connected is None else "connected" if connected else "disconnected"
    return {
        "path": f"{type(backend).__module__}.{type(backend).__qualname__}",
        "state": state,
        "lag": status.get("lag_seconds"),
        "items": sorted((str(k), v) for k, v in status.items() if not isinstance(v, dict | list)),
        "status": status,
    }


def site_figures(dispatcher: Dispatcher | None = None, minutes: int = 60) -> dict[str, Any]:
    """Return the node, its uptime ("3 h 20 min"), totals, [(minute, sent, delivered, errors)].

    ``per_minute`` is None when the dispatcher collects no figures.
    """
    dispatcher = dispatcher or default_dispatcher
    figures = getattr(dispatcher, "figures", None)
    per_minute = None
    if figures is not None and hasattr(figures, "per_minute"):
        per_minute = [tuple(row) for row in figures.per_minute(minutes)]
    return {
        "node": dispatcher.node_name,
        "uptime": duration(max(0.0, time.time() - STARTED_AT)),
        "started_at": when(STARTED_AT),
        "sent": getattr(figures, "sent", None),
        "delivered": getattr(figures, "delivered", None),
        "errors": dispatcher.error_count,
        "per_minute": per_minute,
    }


# -- followers ------------------------------------------------------------


def _matches(row_pattern: str, name: str, query: str) -> bool:
    """Whether a follower row answers a filter: text in its pattern or name, or a match."""
    if query in row_pattern or query in name:
        return True
    try:
        return parse_identifier(row_pattern).matches(query)
    except ValueError:
        return False  # the query is not an identifier: text search only


def followers(query: str = "", dispatcher: Dispatcher | None = None) -> list[dict[str, Any]]:
    """Return one row per subscription, with its figures, filtered by query.

    A row is kept when query is empty, appears in its pattern or dotted path,
    or is an identifier its pattern matches ("order:created" finds "order:*").
    delivered, errors, mean_ms and last_error are None without figures.
    """
    rows = []
    for row in follower_rows(dispatcher):
        if query and not _matches(row.identifier, row.name, query):
            continue
        mean = getattr(row, "mean_seconds", None)
        trace = getattr(row, "last_traceback", None) or ""
        rows.append(
            {
                "pattern": row.identifier,
                "name": row.name,
                "kind": row.kind,
                "is_async": row.is_async,
                "guarded": row.guarded,
                "group": row.group,
                "delivered": getattr(row, "delivered", None),
                "errors": getattr(row, "errors", None),
                "mean_ms": None if mean is None else mean * 1000.0,
                "last_error": getattr(row, "last_error", None),
                "last_error_at": when(getattr(row, "last_error_at", None)),
                "traceback": "\n".join(trace.rstrip().splitlines()[-TRACEBACK_LINES:]),
            }
        )
    return rows


# -- queues and connections -------------------------------------------------


def local_queues(dispatcher: Dispatcher | None = None) -> list[dict[str, Any]]:
    """Return the process's queues: label, pattern, shared, depth, maxsize, dropped, full.

    depth is None when a shared store (in Redis) cannot be read now.
    """
    dispatcher = dispatcher or default_dispatcher
    rows = []
    for sub in dispatcher.subscriptions():
        store = sub.store
        if sub.kind != "queue" or store is None:
            continue
        try:
            depth: int | None = store.qsize()
        except BerryMQError:
            depth = None
        maxsize = int(getattr(store, "maxsize", 0) or 0)
        rows.append(
            {
                "label": sub.label,
                "pattern": str(sub.pattern),
                "shared": "shared=True" in sub.label,
                "depth": depth,
                "maxsize": maxsize,
                "dropped": getattr(store, "dropped", None),
                "full": bool(maxsize and depth is not None and depth >= maxsize),
            }
        )
    return rows


def _depth(connection: Connection) -> int | None:
    if connection.style != "queue":
        return None
    try:
        return connection_state().connection_queue(connection).qsize()
    except (LookupError, BerryMQError):
        return None


def connections() -> list[dict[str, Any]]:
    """Return the JSON-RPC connections: id, token (cut short), principal, style, pattern,
    depth, maxsize, idle and ttl left (seconds), the peer's address, and full."""
    now = time.time()
    rows = []
    for connection in connection_state().connections():
        depth = _depth(connection)
        rows.append(
            {
                "id": connection_id(connection.token),
                "token": short(connection.token),
                "principal": connection.principal,
                "style": connection.style,
                "pattern": connection.identifier,
                "depth": depth,
                "maxsize": connection.maxsize,
                "idle_seconds": max(0.0, now - (connection.expires_at - connection.ttl)),
                "ttl_left_seconds": max(0.0, connection.expires_at - now),
                "addr": hide_passwords(connection.addr),
                "full": bool(connection.maxsize and depth and depth >= connection.maxsize),
            }
        )
    return sorted(rows, key=lambda row: (row["style"], row["principal"]))


def find_connection(cid: str) -> Connection | None:
    """Return the live connection whose connection_id is cid, or None."""
    for connection in connection_state().connections():
        if connection_id(connection.token) == cid:
            return connection
    return None


# -- peers and dead letters ---------------------------------------------------


def peer_links() -> list[dict[str, Any]]:
    """Return each peer link's status (see BaseLink.status) with its name, by name."""
    rows = []
    for name, status in sorted(peers().status().items()):
        rtt = status.get("rtt_seconds")
        rows.append(
            {
                **status,
                "url": hide_passwords(status.get("url")),
                "last_error": hide_passwords(status.get("last_error")),
                "name": name,
                "last_success_at": when(status.get("last_success_at", status.get("last_success"))),
                "rtt_ms": None if rtt is None else rtt * 1000.0,
            }
        )
    return rows


def dead_letters(limit: int = 50) -> dict[str, Any] | None:
    """Return {"counts": {group: n}, "letters": [...]}; None when the backend keeps none.

    Each letter: group, id, identifier, args, kwargs, error (its last lines),
    attempts, failed_at, worker (cut short). A backend that fails to answer
    gives {"error": "..."} instead.
    """
    store = getattr(default_dispatcher.backend, "dead_letters", None)
    if store is None:
        return None
    try:
        counts = {group: n for group, n in store.counts().items() if n}
        letters = store.list(limit=limit) if counts else []
    except BerryMQError as exc:
        return {"counts": {}, "letters": [], "error": str(exc)}
    return {
        "counts": counts,
        "letters": [
            {
                "group": letter.group,
                "id": letter.id,
                "identifier": letter.identifier,
                "args": None if letter.message is None else list(letter.message.args),
                "kwargs": None if letter.message is None else dict(letter.message.kwargs),
                "error": "\n".join(letter.error.rstrip().splitlines()[-TRACEBACK_LINES:]),
                "attempts": letter.attempts,
                "failed_at": when(letter.failed_at),
                "worker": short(letter.worker),
            }
            for letter in letters
        ],
    }


def outbox() -> dict[str, Any] | None:
    """Return the durable outbox's figures when it is on, else None.

    {"destinations": {name: {pending, oldest_pending_seconds, dead}}, "relay": {...} | None,
    "warn_seconds": float, "error"?: str}, from ``outbox.setup.outbox_status()``.
    """
    # Imported here: the outbox's models need the app registry, which this module does not.
    from ..outbox import setup

    options = setup.current_options()
    if not options.enabled:
        return None
    return {"warn_seconds": options.warn_seconds, **setup.outbox_status()}


def outbox_dead_letters(limit: int = 50) -> dict[str, Any] | None:
    """Return the outbox's figures and its oldest dead letters when it is on, else None.

    outbox()'s dict plus "letters": up to limit dead rows, oldest first, each
    with destination, id, identifier, uid, error (its last lines) and age (a
    duration text since it was written). A database that fails to answer
    gives "error" and no letters.
    """
    box = outbox()
    if box is None:
        return None
    from django.db import DatabaseError

    from ..outbox import setup, store

    box["letters"] = []
    if box.get("error") or not any(row["dead"] for row in box["destinations"].values()):
        return box
    try:
        rows = store.dead_letters(setup.current_options().database, limit=limit)
    except DatabaseError as exc:
        box["error"] = f"{type(exc).__name__}: {exc}"
        return box
    now = time.time()
    box["letters"] = [
        {
            "destination": row["destination"],
            "id": row["id"],
            "identifier": row["identifier"],
            "uid": row["uid"],
            "error": "\n".join(str(row["error"]).rstrip().splitlines()[-TRACEBACK_LINES:]),
            "age": duration(max(0.0, now - row["created"])),
        }
        for row in rows
    ]
    return box
