"""The client tests' site on a Redis backend that nothing answers: every call is -32005.

BERRYMQ_CLIENTS_REDIS_URL  the Redis URL (a port nobody listens on)
"""

from __future__ import annotations

import os

from .site_settings import *  # noqa: F403
from .site_settings import BERRYMQ

BERRYMQ = {
    **BERRYMQ,
    "BACKEND": "berrymq_django.backends.redis.RedisBackend",
    "BACKEND_OPTIONS": {
        "URL": os.environ["BERRYMQ_CLIENTS_REDIS_URL"],
        "CONNECT_TIMEOUT": 0.2,
        "SOCKET_TIMEOUT": 0.2,
    },
}
