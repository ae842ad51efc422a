"""App config of the demo app."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Register the demo; berrymq_django imports its receivers module at startup."""

    name = "example_project.demo"
    label = "demo"
    verbose_name = "berryMQ demo"
