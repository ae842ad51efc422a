"""Minimal settings for the test suite (pytest-django reads DJANGO_SETTINGS_MODULE)."""

from __future__ import annotations

SECRET_KEY = "tests-only-insecure-key"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "berrymq_django",
    "tests.testapp",
    "example_project.demo",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# The demo's URLs without the admin, which the test apps leave out.
ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# As in the example project, so the shop's model events run in its tests.
BERRYMQ = {"MODEL_EVENTS": ["shop.Order"]}

# The live server wraps the site in a static files handler, which needs this.
STATIC_URL = "/static/"
