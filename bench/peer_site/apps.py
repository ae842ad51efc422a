"""App config of the peering bench site."""

from __future__ import annotations

from django.apps import AppConfig


class PeerSiteConfig(AppConfig):
    """Install the site so berrymq_django autodiscovers its receivers module."""

    name = "bench.peer_site"
    label = "bench_peer_site"
