"""Settings of a peering bench site, from the environment (loopback only, never deployed).

BERRYMQ_BENCH_NODE   node name           BERRYMQ_BENCH_SELF_URL  SELF_URL
BERRYMQ_BENCH_KEYS   JSON of API_KEYS    BERRYMQ_BENCH_PEERS     JSON of PEERS
BERRYMQ_BENCH_DATABASES  JSON of DATABASES (the outbox case)
BERRYMQ_BENCH_EXTRA      JSON of more BERRYMQ keys (OUTBOX)
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "bench-only-insecure-key"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    # DRF's Request needs contrib.auth's AnonymousUser; only the outbox touches a database.
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "berrymq_django",
    "bench.peer_site.apps.PeerSiteConfig",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.peer_site.urls"
DATABASES: dict[str, dict[str, str]] = json.loads(os.environ.get("BERRYMQ_BENCH_DATABASES", "{}"))
USE_TZ = True
USE_I18N = False

BERRYMQ = {
    "NODE_NAME": os.environ.get("BERRYMQ_BENCH_NODE", "bench-peer"),
    "SELF_URL": os.environ.get("BERRYMQ_BENCH_SELF_URL"),
    "API_KEYS": json.loads(os.environ.get("BERRYMQ_BENCH_KEYS", "{}")),
    "PEERS": json.loads(os.environ.get("BERRYMQ_BENCH_PEERS", "{}")),
    **json.loads(os.environ.get("BERRYMQ_BENCH_EXTRA", "{}")),
}

# Errors only, but the peer warnings (retries, drops) stay visible in the log file.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "ERROR"},
    "loggers": {"berrymq": {"handlers": ["stderr"], "level": "WARNING", "propagate": False}},
}
