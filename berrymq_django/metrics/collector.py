"""BerryMQCollector: berryMQ's figures as Prometheus metric families, read at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.api import default_dispatcher
from ..peering import connection_state, peers
from .sources import families, source_figures

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher

__all__ = ["PEER_STATES", "BerryMQCollector"]

logger = logging.getLogger("berrymq.metrics")

PEER_STATES = ("idle", "connecting", "connected", "retrying", "stopped", "closed")


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
            self._dead_letters,
            self._sources,
        ):
            try:
                yield from list(part())
            except Exception:
                logger.exception(
                    "berryMQ metrics: %s failed; left out of this scrape", part.__name__.strip("_")
                )

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
            # Registrations labels the one subscription of shared queues "Queue(..., shared=True)".
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
        if isinstance(status.get("lag_seconds"), float):
            yield GaugeMetricFamily(
                "berrymq_backend_lag_seconds",
                "Seconds from the timestamp of the last message from another process to its "
                "read (sender's clock against this one's).",
                status["lag_seconds"],
            )
        for key, text in (
            ("published", "Messages published to other processes."),
            ("dropped", "Messages for other processes given up."),
        ):
            if isinstance(status.get(key), int):
                yield CounterMetricFamily(f"berrymq_backend_{key}", text, status[key])

    def _dead_letters(self) -> Iterator[Any]:
        # A part of its own: counting asks the backend's server, which may be down.
        from prometheus_client.core import GaugeMetricFamily

        dead_letters = getattr(self.dispatcher.backend, "dead_letters", None)
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
        yield from families(source_figures())
