"""Settings of the site the client tests run against: a berryMQ endpoint with staff logins.

BERRYMQ_CLIENTS_KEYS  JSON {principal: key} of who may call the endpoint
BERRYMQ_CLIENTS_DB    the SQLite file holding the users and sessions
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "test-clients-site-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "berrymq_django",
    "tests.clients.siteapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.clients.siteapp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BERRYMQ_CLIENTS_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
LOGIN_URL = "/login/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"berrymq": {"handlers": ["console"], "level": "WARNING"}},
}
BERRYMQ = {
    "NODE_NAME": "clients-site",
    "API_KEYS": json.loads(os.environ.get("BERRYMQ_CLIENTS_KEYS", "{}")),
}
