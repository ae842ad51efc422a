"""The test site as an ASGI application, for uvicorn (tests/test_asgi_long_polls.py)."""

import os

from django.core.asgi import get_asgi_application

from berrymq_django.asgi import EndpointThreadMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.peering.site_settings")
# The berryMQ endpoint's requests share one thread for their sync code.
application = EndpointThreadMiddleware(get_asgi_application())
