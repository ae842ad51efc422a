"""WSGI entry point of the peering bench site: ``gunicorn bench.peer_site.wsgi``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_site.settings")

application = get_wsgi_application()
