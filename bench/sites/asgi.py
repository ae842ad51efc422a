"""ASGI entry point of the bench site: ``uvicorn bench.sites.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from berrymq_django.asgi import EndpointThreadMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.sites.settings")

# The berryMQ endpoint's requests share one thread for their sync code.
application = EndpointThreadMiddleware(get_asgi_application())
