"""Prometheus metrics: the bus's figures, read at scrape time, and the view that serves them.

``BerryMQCollector`` is a prometheus_client custom collector: nothing is
counted for it on the hot path; each scrape reads the figures the dispatcher
keeps anyway (``core/figures.py``), the queues, the peer links and the
backend's status. ``MetricsView`` serves them at ``berrymq/metrics`` in the
Prometheus text format (OpenMetrics when the scraper asks for it) to API key
holders and staff sessions, or to anyone with ``BERRYMQ["METRICS_PUBLIC"]``.

Labels stay bounded: a follower's dotted path, a registered queue's pattern,
a peer's name, a follower group; never an identifier as sent, nor a uid.

Other parts add their own figures through *figure sources*: a callable
returning ``Figure`` rows, registered by name with ``add_figure_source``.
It is called at each scrape, must be quick, and may raise (the scrape goes
on without it, and the failure is logged).

prometheus-client is optional (``pip install "berrymq_django[metrics]"``):
without it this module imports, sources can be registered, and the view
answers 501 with that hint.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from django.http import HttpResponse
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from .authentication import APIKeyClient
from .conf import berrymq_settings
from .core.api import default_dispatcher
from .peering import connection_state, peers
from .rpc.peers import CALLBACK_PRINCIPAL_PREFIX
from .views import JSON, pipeline

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from .core.dispatcher import Dispatcher

__all__ = [
    "INSTALL_HINT",
    "BerryMQCollector",
    "CanReadMetrics",
    "Figure",
    "FigureSource",
    "MetricsView",
    "add_figure_source",
    "prometheus_available",
    "remove_figure_source",
]

logger = logging.getLogger("berrymq.metrics")

INSTALL_HINT = 'Install prometheus-client: pip install "berrymq_django[metrics]".'

_RENDERER = JSONRenderer()
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
PEER_STATES = ("idle", "connecting", "connected", "retrying", "stopped", "closed")


def prometheus_available() -> bool:
    """Return whether prometheus-client can be imported (the ``metrics`` extra)."""
    try:
        importlib.import_module("prometheus_client")
    except ImportError:
        return False
    return True


# -- figure sources -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Figure:
    """One sample from a figure source, exported as ``berrymq_<name>``.

    ``name``: letters, digits and "_" (a counter's "_total" is added on
    export); ``kind``: "gauge" or "counter"; ``labels``: a few bounded values
    (never identifiers as sent or uids). Figures of one name share one help
    text and one set of label names.
    """

    name: str
    value: float
    help: str
    kind: Literal["gauge", "counter"] = "gauge"
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


FigureSource = Callable[[], Iterable[Figure]]

_sources: dict[str, FigureSource] = {}
_sources_lock = threading.Lock()


def add_figure_source(name: str, source: FigureSource) -> None:
    """Call source() at each scrape and export what it returns; replace any of the same name.

    For example the outbox::

        add_figure_source("outbox", lambda: [
            Figure("outbox_pending", pending(), "Messages waiting in the outbox."),
            Figure("outbox_oldest_age_seconds", age(), "Age of the oldest one."),
        ])
    """
    if not callable(source):
        raise TypeError(f"A figure source must be callable, not {source!r}.")
    with _sources_lock:
        _sources[name] = source


def remove_figure_source(name: str) -> None:
    """Stop calling the source registered as name; an unknown name is ignored."""
    with _sources_lock:
        _sources.pop(name, None)


# -- the collector ---------------------------------------------------------------------


class BerryMQCollector:
    """Read berryMQ's figures into metric families at each scrape (see the module docstring).

    ``dispatcher`` defaults to the default dispatcher. Register it with a
    registry of your own (``REGISTRY.register(BerryMQCollector())``) to export
    berryMQ's metrics beside the rest of the site's.
    """

    def __init__(self, dispatcher: Dispatcher | None = None) -> None:
        self.dispatcher = dispatcher if dispatcher is not None else default_dispatcher

    def collect(self) -> Iterator[Any]:
        """Yield every metric family; a part that fails is logged and left out."""
        for part in (
            self._bus,
            self._followers,
            self._queues,
            self._connections,
            self._links,
            self._backend,
            self._sources,
        ):
            try:
                yield from list(part())
            except Exception:
                logger.exception("berryMQ metrics: %s failed; left out of this scrape", part)

    def _bus(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        figures = self.dispatcher.figures
        yield CounterMetricFamily(
            "berrymq_messages_sent", "Messages sent through this process.", figures.sent
        )
        yield CounterMetricFamily(
            "berrymq_messages_delivered",
            "Calls of followers and queues that returned.",
            figures.delivered,
        )
        yield CounterMetricFamily(
            "berrymq_delivery_errors", "Calls of followers that raised.", figures.errors
        )

    def _followers(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        totals: dict[str, list[float]] = {}
        for sub in self.dispatcher.subscriptions():
            if sub.kind == "queue":
                continue
            row = totals.setdefault(sub.label, [0, 0, 0.0])
            row[0] += sub.figures.delivered
            row[1] += sub.figures.errors
            row[2] += sub.figures.seconds
        families = [
            CounterMetricFamily(
                "berrymq_follower_delivered",
                "Calls of a follower that returned, by dotted path.",
                labels=["follower"],
            ),
            CounterMetricFamily(
                "berrymq_follower_errors",
                "Calls of a follower that raised, by dotted path.",
                labels=["follower"],
            ),
            CounterMetricFamily(
                "berrymq_follower_seconds",
                "Seconds spent in a follower's calls, by dotted path (0 with FOLLOWER_TIMING off).",
                labels=["follower"],
            ),
        ]
        for label, values in sorted(totals.items()):
            for family, value in zip(families, values, strict=True):
                family.add_metric([label], value)
        yield from families

    def _queues(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        totals: dict[tuple[str, str], list[int]] = {}
        for sub in self.dispatcher.subscriptions():
            store = sub.store
            if store is None:
                continue
            key = (sub.pattern.text, "true" if "shared=True" in sub.label else "false")
            row = totals.setdefault(key, [0, 0, 0, 0])  # depth, maxsize, dropped, unbounded
            row[0] += store.qsize()
            row[1] += store.maxsize
            row[2] += store.dropped
            row[3] += not store.maxsize
        labels = ["queue", "shared"]
        depth = GaugeMetricFamily(
            "berrymq_queue_depth", "Messages waiting in the queues of a pattern.", labels=labels
        )
        maxsize = GaugeMetricFamily(
            "berrymq_queue_maxsize",
            "Bound of the queues of a pattern, summed (0: one of them is unbounded).",
            labels=labels,
        )
        dropped = CounterMetricFamily(
            "berrymq_queue_dropped", "Messages dropped by full queues of a pattern.", labels=labels
        )
        for key, (d, m, x, unbounded) in sorted(totals.items()):
            depth.add_metric(list(key), d)
            maxsize.add_metric(list(key), 0 if unbounded else m)
            dropped.add_metric(list(key), x)
        yield from (depth, maxsize, dropped)

    def _connections(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        styles: dict[str, int] = {}
        for connection in connection_state().connections():
            styles[connection.style] = styles.get(connection.style, 0) + 1
        family = GaugeMetricFamily(
            "berrymq_connections", "Live JSON-RPC connections, by style.", labels=["style"]
        )
        for style, count in sorted(styles.items()):
            family.add_metric([style], count)
        yield family

    def _links(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            StateSetMetricFamily,
        )

        labels = ["peer"]
        buffered = GaugeMetricFamily(
            "berrymq_peer_buffered", "Messages held for a peer.", labels=labels
        )
        counters = {
            key: CounterMetricFamily(f"berrymq_peer_{key}", text, labels=labels)
            for key, text in (
                ("sent", "Messages a peer accepted."),
                ("retried", "Failed calls to a peer, retried."),
                ("dropped", "Messages for a peer given up."),
            )
        }
        rtt = GaugeMetricFamily(
            "berrymq_peer_rtt_seconds",
            "Round trip of the last successful call to a peer.",
            labels=labels,
        )
        state = StateSetMetricFamily("berrymq_peer_state", "A peer link's state.", labels=labels)
        for name, figures in sorted(peers().status().items()):
            buffered.add_metric([name], figures["buffered"])
            for key, family in counters.items():
                family.add_metric([name], figures[key])
            if figures.get("rtt_seconds") is not None:
                rtt.add_metric([name], figures["rtt_seconds"])
            state.add_metric([name], {s: figures["state"] == s for s in PEER_STATES})
        yield from (buffered, *counters.values(), rtt, state)

    def _backend(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        backend = self.dispatcher.backend
        status = backend.status()
        up = bool(status.get("connected", True))
        yield GaugeMetricFamily(
            "berrymq_backend_up", "Whether the backend reaches its server (1) or not (0).", up
        )
        yield InfoMetricFamily(
            "berrymq_backend",
            "The backend and its state.",
            value={
                "backend": str(status.get("backend", type(backend).__name__)),
                "state": "connected" if up else "disconnected",
            },
        )
        if isinstance(status.get("buffered"), int):
            yield GaugeMetricFamily(
                "berrymq_backend_buffered",
                "Messages held for other processes.",
                status["buffered"],
            )
        for key, text in (
            ("published", "Messages published to other processes."),
            ("dropped", "Messages for other processes given up."),
        ):
            if isinstance(status.get(key), int):
                yield CounterMetricFamily(f"berrymq_backend_{key}", text, status[key])
        dead_letters = getattr(backend, "dead_letters", None)
        if dead_letters is not None:
            family = GaugeMetricFamily(
                "berrymq_dead_letters",
                "Grouped messages that failed their last attempt, by follower group.",
                labels=["group"],
            )
            for group, count in sorted(dead_letters.counts().items()):
                family.add_metric([group], count)
            yield family

    def _sources(self) -> Iterator[Any]:
        with _sources_lock:
            sources = list(_sources.items())
        rows: list[Figure] = []
        for name, source in sources:
            try:
                rows.extend(source())
            except Exception:
                logger.exception("berryMQ metrics: figure source %r failed", name)
        yield from _families(rows)


def _families(rows: list[Figure]) -> Iterator[Any]:
    """Group figure rows by name into metric families; skip (and log) malformed ones."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    families: dict[str, tuple[Any, list[str]]] = {}
    for row in rows:
        names = sorted(row.labels)
        if not (_NAME.fullmatch(row.name) and all(_NAME.fullmatch(n) for n in names)):
            logger.warning("berryMQ metrics: a figure with a malformed name: %r", row)
            continue
        if row.name not in families:
            cls = CounterMetricFamily if row.kind == "counter" else GaugeMetricFamily
            families[row.name] = (cls(f"berrymq_{row.name}", row.help, labels=names), names)
        family, expected = families[row.name]
        if names != expected:
            logger.warning("berryMQ metrics: %r has labels %s, not %s", row.name, names, expected)
            continue
        family.add_metric([str(row.labels[n]) for n in names], row.value)
    for family, _ in families.values():
        yield family


# -- the view --------------------------------------------------------------------------

_registry: CollectorRegistry | None = None
_registry_lock = threading.Lock()


def registry() -> CollectorRegistry:
    """Return the registry the view serves: berryMQ's collector alone, made once."""
    global _registry
    with _registry_lock:
        if _registry is None:
            from prometheus_client.registry import CollectorRegistry

            found = CollectorRegistry(auto_describe=False)
            found.register(BerryMQCollector())
            _registry = found
        return _registry


class CanReadMetrics(BasePermission):
    """Allow API key holders and logged-in staff; everyone if BERRYMQ["METRICS_PUBLIC"].

    A peer calling back with an interconnect token is not a key holder here.
    """

    message = "berryMQ metrics need an API key (Authorization: Bearer) or a staff session."

    def has_permission(self, request: Request, view: Any) -> bool:
        if berrymq_settings.METRICS_PUBLIC:
            return True
        user = request.user
        if isinstance(user, APIKeyClient):
            return not user.principal.startswith(CALLBACK_PRINCIPAL_PREFIX)
        return bool(user and user.is_authenticated and user.is_staff)


class MetricsView(APIView):
    """Serve berryMQ's metrics on GET in the Prometheus text format (see the module docstring).

    401 without credentials, 403 for a user who is not staff, 501 without
    prometheus-client.
    """

    permission_classes = (CanReadMetrics,)

    def get_authenticators(self) -> list[BaseAuthentication]:
        return pipeline().authenticators  # the endpoint's: API keys and sessions

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return (_RENDERER, JSON)  # refusals are JSON; the metrics are an HttpResponse

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        if not prometheus_available():
            return HttpResponse(
                f"berryMQ metrics are not available. {INSTALL_HINT}\n",
                status=501,
                content_type="text/plain; charset=utf-8",
            )
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
        return HttpResponse(encoder(registry()), content_type=content_type)
