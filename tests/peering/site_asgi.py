"""The test site as an ASGI application, for uvicorn (tests/test_asgi_long_polls.py)."""

import os

from django.core.asgi import get_asgi_application

from berrymq_django.asgi import EndpointThreadMiddleware, LongPollMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.peering.site_settings")
# Waiting gets are answered before Django; the endpoint's other requests share a few
# threads for their sync code.
application = LongPollMiddleware(EndpointThreadMiddleware(get_asgi_application()))
