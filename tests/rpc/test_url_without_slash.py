"""The endpoint answers at berrymq/rpc as at berrymq/rpc/.

Django's APPEND_SLASH cannot redirect a POST: with DEBUG it raised a 500, without
it a 301 that clients follow as a GET. A client given the URL without its slash
gets its answer.
"""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

KEY = "s" * 32


@pytest.mark.parametrize("debug", [False, True])
def test_a_call_to_the_url_without_its_slash_is_answered(debug: bool) -> None:
    with override_settings(BERRYMQ={"API_KEYS": {"client": KEY}}, DEBUG=debug):
        response = Client().post(
            "/berrymq/rpc",
            '{"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}',
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {KEY}",
        )
    assert response.status_code == 200, response.content[:200]
    assert "node" in response.json()["result"]
