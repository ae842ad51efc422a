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

The parts: ``sources`` (figure sources, and whether prometheus-client is
there), ``collector`` (the collector), ``views`` (the view and who may see it;
imported by the urls, not here, so that the checks can import this package
while the app registry is still loading).

prometheus-client is optional (``pip install "berrymq_django[metrics]"``):
without it this module imports, sources can be registered, and the view
answers 501 with that hint.
"""

from __future__ import annotations

from .collector import BerryMQCollector
from .sources import (
    INSTALL_HINT,
    Figure,
    FigureSource,
    add_figure_source,
    prometheus_available,
    remove_figure_source,
)

__all__ = [
    "INSTALL_HINT",
    "BerryMQCollector",
    "Figure",
    "FigureSource",
    "add_figure_source",
    "prometheus_available",
    "remove_figure_source",
]
