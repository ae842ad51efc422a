"""The test site as an ASGI application, for uvicorn (tests/test_asgi_long_polls.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.peering.site_settings")
application = get_asgi_application()
