"""WSGI entry point of the bench site: ``gunicorn bench.sites.wsgi``."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.sites.settings")

application = get_wsgi_application()
