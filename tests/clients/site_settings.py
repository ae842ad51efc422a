"""Settings of the site the client tests (Ruby, JavaScript) run against.

BERRYMQ_SITE_KEYS   JSON {principal: key} of who may call the endpoint
BERRYMQ_SITE_EXTRA  JSON of more BERRYMQ keys
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "test-client-site-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "berrymq_django",
    "tests.clients.siteapp",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.clients.siteapp.urls"
DATABASES: dict[str, dict[str, str]] = {}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"berrymq": {"handlers": ["console"], "level": "WARNING"}},
}
BERRYMQ = {
    "NODE_NAME": "client-site",
    "API_KEYS": json.loads(os.environ.get("BERRYMQ_SITE_KEYS", "{}")),
}
BERRYMQ.update(json.loads(os.environ.get("BERRYMQ_SITE_EXTRA", "{}")))
