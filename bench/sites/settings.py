"""Settings of the bench site: DEBUG off, no database, no middleware, quiet logs.

Loopback only, never deployed. The API key can be overridden with the
environment variable ``BERRYMQ_BENCH_KEY`` (the harness passes its own), and
MAX_POLL_SECONDS with ``BERRYMQ_BENCH_MAX_POLL``.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-insecure-key"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    # DRF's Request needs contrib.auth's AnonymousUser; nothing touches a database.
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "berrymq_django",
    "bench.sites.apps.BenchSiteConfig",
]

# No middleware: the fixed cost every view pays stays as small as Django allows,
# so the differences between the views show as clearly as they can.
MIDDLEWARE: list[str] = []

ROOT_URLCONF = "bench.sites.urls"
WSGI_APPLICATION = "bench.sites.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
USE_I18N = False

API_KEY = os.environ.get("BERRYMQ_BENCH_KEY", "bench-key-0123456789abcdef")

BERRYMQ = {
    "NODE_NAME": "bench-site",
    "API_KEYS": {"bench": API_KEY},
    # The long-poll case holds its polls while thousands more connect.
    "MAX_POLL_SECONDS": float(os.environ.get("BERRYMQ_BENCH_MAX_POLL", "25")),
}

# Errors only: a log line per request would be timed along with the view.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "ERROR"},
}
