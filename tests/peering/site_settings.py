"""Settings of a test site process: one berryMQ node, configured from the environment.

BERRYMQ_SITE_NAME    the node name (also the name peers know our key by)
BERRYMQ_SITE_URL     where peers reach us (SELF_URL)
BERRYMQ_SITE_KEYS    JSON {principal: key} of who may call us
BERRYMQ_SITE_PEERS   JSON of BERRYMQ["PEERS"]
BERRYMQ_SITE_EXTRA   JSON of more BERRYMQ keys (MAX_POLL_SECONDS, say)
BERRYMQ_SITE_JOURNAL a file the "*:*" follower appends each message to (survives restarts)
BERRYMQ_SITE_DATABASES JSON of DATABASES (the outbox's tests: SQLite or PostgreSQL)
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "test-site-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "berrymq_django",
    "tests.peering.siteapp",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.peering.siteapp.urls"
DATABASES: dict[str, dict[str, str]] = json.loads(os.environ.get("BERRYMQ_SITE_DATABASES", "{}"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"berrymq": {"handlers": ["console"], "level": "WARNING"}},
}
BERRYMQ = {
    "NODE_NAME": os.environ.get("BERRYMQ_SITE_NAME", "site"),
    "SELF_URL": os.environ.get("BERRYMQ_SITE_URL"),
    "API_KEYS": json.loads(os.environ.get("BERRYMQ_SITE_KEYS", "{}")),
    "PEERS": json.loads(os.environ.get("BERRYMQ_SITE_PEERS", "{}")),
}
BERRYMQ.update(json.loads(os.environ.get("BERRYMQ_SITE_EXTRA", "{}")))
if os.environ.get("BERRYMQ_SITE_BACKEND"):
    BERRYMQ["BACKEND"] = os.environ["BERRYMQ_SITE_BACKEND"]
    BERRYMQ["BACKEND_OPTIONS"] = json.loads(os.environ.get("BERRYMQ_SITE_BACKEND_OPTIONS", "{}"))
