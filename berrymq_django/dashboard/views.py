"""The dashboard's pages and actions: staff only, in the admin's look; actions are POSTs.

Every page renders ``berrymq/dashboard/<page>.html`` (extending the
admin's ``admin/base_site.html``) with the admin site's context, so the
header, the user tools and the colours are the admin's. An action answers
with a redirect back to its page and a message (Post/Redirect/Get); bad
input (an unknown connection, a malformed group) is a message naming the
value, never an error page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.exceptions import BerryMQError
from berrymq_django.core.subscription import check_group
from berrymq_django.peering import connection_state, peers
from berrymq_django.rpc.peers import callback_name

from . import pictures, report
from .access import staff_only
from .attention import attention

__all__ = [
    "PAGES",
    "close_connection",
    "dead",
    "dead_purge",
    "dead_retry",
    "followers",
    "network",
    "outbox_purge",
    "outbox_retry",
    "overview",
    "peers_page",
    "queues",
    "tail",
]

#: (url name, title) of each page, in the order of the navigation.
PAGES = [
    ("overview", "Overview"),
    ("followers", "Followers"),
    ("queues", "Queues and connections"),
    ("peers", "Peers"),
    ("dead", "Dead letters"),
    ("network", "Network"),
    ("tail", "Live tail"),
]
MAX_QUERY = 200  # characters of a filter kept


def _render(request: HttpRequest, page: str, context: dict[str, Any]) -> HttpResponse:
    from django.contrib import admin  # only once staff_only has made sure admin is installed

    title = dict(PAGES).get(page, "Purge dead letters")
    pages = [(name, label) for name, label in PAGES if name != "dead" or _shows_dead()]
    return render(
        request,
        f"berrymq/dashboard/{page}.html",
        {
            **admin.site.each_context(request),
            "title": f"berryMQ · {title}",
            "page_title": title,
            "page": page.partition("_")[0],  # the purge confirmation is under dead letters
            "pages": pages,
            **context,
        },
    )


def _shows_dead() -> bool:
    """Whether there is a Dead letters page: the backend keeps them, or the outbox is on."""
    if getattr(default_dispatcher.backend, "dead_letters", None) is not None:
        return True
    from ..outbox.setup import current_options  # the outbox's models need the app registry

    return current_options().enabled


def _connections(request: HttpRequest) -> list[dict[str, Any]]:
    """Return report.connections(), or none with a warning when the backend cannot answer."""
    try:
        return report.connections()
    except BerryMQError as exc:
        messages.warning(request, f"The connections cannot be read now: {exc}")
        return []


def _back(page: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse(f"berrymq:dashboard:{page}"))


@require_GET
@staff_only
def overview(request: HttpRequest) -> HttpResponse:
    """The node, its backend, uptime, the last hour's chart, follower errors, attention list."""
    backend = report.backend_report()
    figures = report.site_figures()
    rows = report.followers()
    links = report.peer_links()
    queues_ = report.local_queues()
    conns = _connections(request)
    dead_ = report.dead_letters(limit=1)
    box = report.outbox()
    per_minute = figures["per_minute"]
    return _render(
        request,
        "overview",
        {
            "backend": backend,
            "figures": figures,
            "chart": None if per_minute is None else pictures.chart(per_minute),
            "failing": sorted(
                (row for row in rows if row["errors"]), key=lambda row: -int(row["errors"])
            ),
            "attention": attention(backend, links, queues_, conns, dead_, box),
            "outbox": box,
            "counts": {
                "followers": len(rows),
                "queues": len(queues_),
                "connections": len(conns),
                "peers": len(links),
            },
        },
    )


@require_GET
@staff_only
def followers(request: HttpRequest) -> HttpResponse:
    """Every subscription with its figures; ?pattern= filters (text, or an identifier)."""
    query = request.GET.get("pattern", "").strip()[:MAX_QUERY]
    rows = report.followers(query)
    return _render(request, "followers", {"rows": rows, "query": query})


@require_GET
@staff_only
@ensure_csrf_cookie
def queues(request: HttpRequest) -> HttpResponse:
    """The process's queues and the JSON-RPC connections, each with a close button."""
    return _render(
        request,
        "queues",
        {"queues": report.local_queues(), "connections": _connections(request)},
    )


@require_POST
@staff_only
@csrf_protect
def close_connection(request: HttpRequest) -> HttpResponse:
    """POST id=<connection id>: close that connection (and an interconnect's call-back link)."""
    cid = request.POST.get("id", "")[:64]
    try:
        connection = report.find_connection(cid)
        if connection is not None:
            connection_state().close_connection(connection.token)
    except BerryMQError as exc:
        messages.error(request, f"Nothing closed: {exc}")
        return _back("queues")
    if connection is None:
        messages.error(request, f"No connection {cid!r}: it was closed or expired already.")
        return _back("queues")
    if connection.style == "interconnect" and connection.addr:
        peers().remove(callback_name(connection.principal, connection.addr))
    messages.success(
        request,
        f"Closed the {connection.style} connection {report.short(connection.token)} "
        f"of {connection.principal}.",
    )
    return _back("queues")


@require_GET
@staff_only
def peers_page(request: HttpRequest) -> HttpResponse:
    """Each peer link, configured or learnt from an interconnect call, with its figures."""
    return _render(request, "peers", {"links": report.peer_links()})


@require_GET
@staff_only
def dead(request: HttpRequest) -> HttpResponse:
    """The follower groups' and the outbox's dead letters, oldest first, with retry and purge."""
    return _render(
        request, "dead", {"dead": report.dead_letters(), "outbox": report.outbox_dead_letters()}
    )


def _group(request: HttpRequest) -> str | None:
    """Return the posted group ("" meaning every group is None); ValueError if malformed."""
    return check_group(request.POST.get("group") or None)


@require_POST
@staff_only
@csrf_protect
def dead_retry(request: HttpRequest) -> HttpResponse:
    """POST [group=]: hand that group's (or every group's) dead letters back to it."""
    store = getattr(default_dispatcher.backend, "dead_letters", None)
    try:
        group = _group(request)
        if store is None:
            raise ValueError("this backend keeps no dead letters")
        results = store.retry(group)
    except (ValueError, BerryMQError) as exc:
        messages.error(request, f"Nothing retried: {exc}")
        return _back("dead")
    for name, (sent, left) in sorted(results.items()):
        messages.success(request, f"Group {name}: {sent} dead letter(s) retried, {left} left.")
    if not results:
        messages.info(request, "There were no dead letters to retry.")
    return _back("dead")


@require_POST
@staff_only
@csrf_protect
def dead_purge(request: HttpRequest) -> HttpResponse:
    """POST [group=]: ask to confirm; POST again with confirmed=yes: delete the dead letters."""
    store = getattr(default_dispatcher.backend, "dead_letters", None)
    try:
        group = _group(request)
        if store is None:
            raise ValueError("this backend keeps no dead letters")
        if request.POST.get("confirmed") != "yes":
            counts = {name: n for name, n in store.counts(group).items() if n}
            return _render(request, "dead_purge", {"group": group or "", "counts": counts})
        results = store.purge(group)
    except (ValueError, BerryMQError) as exc:
        messages.error(request, f"Nothing purged: {exc}")
        return _back("dead")
    deleted = sum(results.values())
    messages.success(request, f"Purged {deleted} dead letter(s).")
    return _back("dead")


def _destination(request: HttpRequest) -> str | None:
    """Return the posted outbox destination ("" meaning every one is None); ValueError if bad."""
    from ..outbox.setup import current_options

    if not current_options().enabled:
        raise ValueError("the outbox is off (BERRYMQ['OUTBOX']['ENABLED'])")
    destination = request.POST.get("destination", "")
    if len(destination) > MAX_QUERY or not destination.isprintable():
        raise ValueError(f"{destination[:MAX_QUERY]!r} is not a destination name")
    return destination or None


def _outbox_database() -> str:
    from ..outbox.setup import current_options

    return current_options().database


@require_POST
@staff_only
@csrf_protect
def outbox_retry(request: HttpRequest) -> HttpResponse:
    """POST [destination=]: make that destination's (or every one's) outbox dead letters pending."""
    from ..outbox import store

    try:
        destination = _destination(request)
        count = store.retry(_outbox_database(), destination)
    except (ValueError, DatabaseError) as exc:
        messages.error(request, f"Nothing retried: {exc}")
        return _back("dead")
    where = f" to {destination}" if destination else ""
    if count:
        messages.success(request, f"Outbox: {count} dead letter(s){where} pending again.")
    else:
        messages.info(request, f"The outbox had no dead letters{where} to retry.")
    return _back("dead")


@require_POST
@staff_only
@csrf_protect
def outbox_purge(request: HttpRequest) -> HttpResponse:
    """POST [destination=]: ask to confirm; POST again with confirmed=yes: delete them."""
    from ..outbox import store

    try:
        destination = _destination(request)
        if request.POST.get("confirmed") != "yes":
            figures = store.stats(_outbox_database())
            counts = {
                name: row["dead"]
                for name, row in figures.items()
                if row["dead"] and destination in (None, name)
            }
            context = {"destination": destination or "", "counts": counts}
            return _render(request, "dead_outbox_purge", context)
        count = store.purge(_outbox_database(), destination)
    except (ValueError, DatabaseError) as exc:
        messages.error(request, f"Nothing purged: {exc}")
        return _back("dead")
    messages.success(request, f"Purged {count} outbox dead letter(s).")
    return _back("dead")


@require_GET
@staff_only
def network(request: HttpRequest) -> HttpResponse:
    """The follower network (show_network()) drawn as SVG, with its DOT source."""
    subscriptions = default_dispatcher.subscriptions()
    return _render(
        request,
        "network",
        {"graph": pictures.network(subscriptions), "dot": default_dispatcher.show_network()},
    )


@require_GET
@staff_only
@ensure_csrf_cookie
def tail(request: HttpRequest) -> HttpResponse:
    """The live tail: messages as they are twittered, pulled over the JSON-RPC endpoint."""
    pattern = request.GET.get("pattern", "*:*").strip()[:MAX_QUERY] or "*:*"
    return _render(request, "tail", {"pattern": pattern, "rpc_url": reverse("berrymq:rpc")})
