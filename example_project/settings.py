"""Settings for the example project: development only, never deploy these."""

from __future__ import annotations

import json
import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent

# DEVELOPMENT ONLY: a fixed, public key so the demo runs out of the box. Never deploy it.
SECRET_KEY = "dev-only-insecure-berrymq-example-key-do-not-use-in-production"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "berrymq_django",
    "example_project.demo",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Several worker processes (Scaling out) take turns writing: wait for the lock.
SQLITE_OPTIONS: dict[str, object] = {"timeout": 20}
if django.VERSION >= (5, 1):
    # A deferred transaction that reads, then writes, cannot wait for the lock: SQLite
    # fails it at once ("database is locked"). BEGIN IMMEDIATE takes the lock first.
    SQLITE_OPTIONS["transaction_mode"] = "IMMEDIATE"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB") or BASE_DIR / "db.sqlite3",
        "OPTIONS": SQLITE_OPTIONS,
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# berryMQ: every key is optional; these are the defaults, spelled out for the reader.
BERRYMQ = {
    "NODE_NAME": None,
    "BACKEND": "berrymq_django.backends.memory.MemoryBackend",
    "BACKEND_OPTIONS": {},
    "AUTODISCOVER": ["receivers"],
    "RAISE_ERRORS": False,
    "MULTIPLICITY": 0,
    # Every save and delete of an Order sends "shop.order:created/updated/deleted".
    "MODEL_EVENTS": ["shop.Order"],
}

# Connecting sites (README, "Connecting sites"): run this project twice, as two sites,
# each told who it is and whom it peers with by these variables; unset, it stands alone.
BERRYMQ.update(
    {
        "NODE_NAME": os.environ.get("EXAMPLE_NODE_NAME"),
        "SELF_URL": os.environ.get("EXAMPLE_SELF_URL"),
        "API_KEYS": json.loads(os.environ.get("EXAMPLE_API_KEYS", "{}")),
        "PEERS": json.loads(os.environ.get("EXAMPLE_PEERS", "{}")),
    }
)

# Scaling out (README, "Scaling out"): EXAMPLE_REDIS_URL=redis://127.0.0.1:6379/0 puts the
# project on the Redis backend, so that it runs as several processes, e.g.
# ``gunicorn -w 3 example_project.wsgi``; the shop's follower groups then run each step once.
if os.environ.get("EXAMPLE_REDIS_URL"):
    BERRYMQ["BACKEND"] = "berrymq_django.backends.redis.RedisBackend"
    BERRYMQ["BACKEND_OPTIONS"] = {
        "URL": os.environ["EXAMPLE_REDIS_URL"],
        "PREFIX": os.environ.get("EXAMPLE_REDIS_PREFIX", "berrymq-example"),
    }

# Show the shop's order log (and follower errors) in the runserver console.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "example_project": {"handlers": ["console"], "level": "INFO"},
        "berrymq": {"handlers": ["console"], "level": "WARNING"},
    },
}
