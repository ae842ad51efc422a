"""App config of the bench site (labelled apart from django.contrib.sites)."""

from __future__ import annotations

from django.apps import AppConfig


class BenchSiteConfig(AppConfig):
    """Install the bench site so berrymq_django autodiscovers its receivers module."""

    name = "bench.sites"
    label = "bench_site"
