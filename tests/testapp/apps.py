"""App config of the test app."""

from __future__ import annotations

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """Register tests.testapp so berrymq_django autodiscovers its receivers."""

    name = "tests.testapp"
    label = "berrymq_testapp"
