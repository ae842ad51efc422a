"""A backend that cannot answer now is a "try again" (HTTP 503, -32005), not a refusal.

A peer link drops a batch answered with an error (-32603 included): a
receiving site whose Redis is down must say it is unavailable, which every
client retries, or the sender would throw away messages it could deliver a
moment later.
"""

from __future__ import annotations

import orjson
import pytest

from tests.support import free_port

from .conftest import berrymq_config
from .helpers import post_raw

pytestmark = pytest.mark.django_db

redis = pytest.importorskip("redis")


def test_a_call_needing_an_unreachable_redis_is_answered_503_unavailable(client):
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with berrymq_config(
        BACKEND="berrymq_django.backends.redis.RedisBackend",
        BACKEND_OPTIONS={"URL": url, "CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    ):
        body = orjson.dumps(
            {"jsonrpc": "2.0", "method": "send_message", "params": ["t" * 40, "a:b"], "id": 7}
        )
        response = post_raw(client, body)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    error = orjson.loads(response.content)["error"]
    assert error["code"] == -32005
    assert "try again later" in error["message"]
