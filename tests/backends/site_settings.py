"""Settings of a test site run by gunicorn with several workers on the Redis backend.

BERRYMQ_SITE_REDIS_URL   the Redis URL (BACKEND_OPTIONS["URL"])
BERRYMQ_SITE_PREFIX      the key prefix the test cleans up (BACKEND_OPTIONS["PREFIX"])
BERRYMQ_SITE_KEYS        JSON {principal: key} of who may call the JSON-RPC endpoint
BERRYMQ_SITE_CLAIM       GROUP_CLAIM_SECONDS (default 30)
BERRYMQ_SITE_RECORDS     where the follower-group receivers write what they ran
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
    "tests.backends.siteapp",
]
MIDDLEWARE = ["tests.backends.siteapp.middleware.worker_pid"]
ROOT_URLCONF = "tests.backends.siteapp.urls"
DATABASES: dict[str, dict[str, str]] = {}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"berrymq": {"handlers": ["console"], "level": "WARNING"}},
}
BERRYMQ = {
    "BACKEND": "berrymq_django.backends.redis.RedisBackend",
    "BACKEND_OPTIONS": {
        "URL": os.environ.get("BERRYMQ_SITE_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "PREFIX": os.environ.get("BERRYMQ_SITE_PREFIX", "berrymq-site"),
    },
    "API_KEYS": json.loads(os.environ.get("BERRYMQ_SITE_KEYS", "{}")),
    "GROUP_CLAIM_SECONDS": float(os.environ.get("BERRYMQ_SITE_CLAIM", "30")),
}
