"""ASGI entry point of the example project."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from berrymq_django.asgi import EndpointThreadMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

# The berryMQ endpoint's requests share one thread for their sync code.
application = EndpointThreadMiddleware(get_asgi_application())
