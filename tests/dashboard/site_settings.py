"""Settings of the dashboard's test site: the admin, a staff login, the Redis backend.

BERRYMQ_SITE_DB          the SQLite file of users and sessions (migrated by the test)
BERRYMQ_SITE_REDIS_URL   the Redis URL (BACKEND_OPTIONS["URL"])
BERRYMQ_SITE_PREFIX      the key prefix the test cleans up
BERRYMQ_SITE_KEY         the API key of principal "tester", who twitters from the test
BERRYMQ_SITE_PEER_URL    the endpoint of peer "faraway", which nothing answers
BERRYMQ_SITE_MEMORY      "1": the in-memory backend instead of Redis
BERRYMQ_SITE_OUTBOX      BERRYMQ["OUTBOX"] as JSON (the durable outbox on the SQLite file)
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "dashboard-test-site-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "berrymq_django",
    "tests.dashboard.siteapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.dashboard.siteapp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    },
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BERRYMQ_SITE_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"berrymq": {"handlers": ["console"], "level": "ERROR"}},
}
BERRYMQ = {
    "NODE_NAME": "dashboard-site",
    "BACKEND": "berrymq_django.backends.redis.RedisBackend",
    "BACKEND_OPTIONS": {
        "URL": os.environ.get("BERRYMQ_SITE_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "PREFIX": os.environ.get("BERRYMQ_SITE_PREFIX", "berrymq-dashboard"),
    },
    **(
        {"BACKEND": "berrymq_django.backends.memory.MemoryBackend", "BACKEND_OPTIONS": {}}
        if os.environ.get("BERRYMQ_SITE_MEMORY") == "1"
        else {}
    ),
    **(
        {"OUTBOX": json.loads(os.environ["BERRYMQ_SITE_OUTBOX"])}
        if os.environ.get("BERRYMQ_SITE_OUTBOX")
        else {}
    ),
    "API_KEYS": {"tester": os.environ.get("BERRYMQ_SITE_KEY", "tester-key-0123456789")},
    # A dead letter at the first failure, and retried at once when asked.
    "GROUP_MAX_ATTEMPTS": 1,
    "GROUP_CLAIM_SECONDS": 1.0,
    "PEERS": {
        "faraway": {
            "URL": os.environ.get("BERRYMQ_SITE_PEER_URL", "http://127.0.0.1:9/berrymq/rpc/"),
            "API_KEY": "faraway-key-0123456789",
            "STYLE": "oneway",
            "MAX_BACKOFF": 0.5,
        }
    },
}
