"""The endpoint behind a real HTTP server (pytest-django's live_server), called with httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.urls import reverse

from berrymq_django import twitter

from .conftest import berrymq_config
from .helpers import INVALID_TOKEN, KEY_B, TIMEOUT, UNAUTHENTICATED


@pytest.fixture
def endpoint(live_server) -> str:
    return live_server.url + reverse("berrymq:rpc")


@pytest.fixture
def http(endpoint: str) -> Iterator[httpx.Client]:
    """A plain HTTP client with site-b's key, no JSON-RPC library in between."""
    with httpx.Client(headers={"Authorization": f"Bearer {KEY_B}"}, timeout=10.0) as client:
        yield client


def call(http: httpx.Client, endpoint: str, method: str, params: Any, id: int = 1) -> dict:
    response = http.post(
        endpoint, json={"jsonrpc": "2.0", "method": method, "params": params, "id": id}
    )
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == id
    return answer


def test_queue_style_round_trip(http: httpx.Client, endpoint: str):
    token = call(http, endpoint, "connect_via_queue", ["task:*", 60])["result"]

    assert call(http, endpoint, "send_message", [token, "task:run", [1], {"x": "y"}]) == {
        "jsonrpc": "2.0",
        "result": "ok",
        "id": 1,
    }
    message = call(http, endpoint, "get", [token, True, 2])["result"]
    assert (message["id"], message["args"], message["kwargs"]) == ("task:run", [1], {"x": "y"})
    assert call(http, endpoint, "get", [token, True, 0.1])["error"]["code"] == TIMEOUT

    assert call(http, endpoint, "close_connection", [token])["result"] == "ok"
    assert call(http, endpoint, "get_nowait", [token])["error"]["code"] == INVALID_TOKEN


def test_long_poll_wakes_on_a_message_sent_over_http(http: httpx.Client, endpoint: str):
    with berrymq_config(MAX_POLL_SECONDS=5.0):
        token = call(http, endpoint, "connect_via_queue", ["task:*", 60])["result"]
        sender = call(http, endpoint, "connect_oneway", [60])["result"]
        answers: list[dict] = []

        def poll() -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {KEY_B}"}, timeout=10) as own:
                answers.append(call(own, endpoint, "get", [token, True, 5], id=2))

        poller = threading.Thread(target=poll)
        started = time.monotonic()
        poller.start()
        time.sleep(0.3)  # the get is waiting on the server by now
        call(http, endpoint, "send_message", [sender, "task:run", ["woken"]])
        poller.join(10)
        elapsed = time.monotonic() - started

    assert answers[0]["result"]["args"] == ["woken"]
    assert elapsed < 3


def test_batch_and_notification_over_http(http: httpx.Client, endpoint: str):
    token = call(http, endpoint, "connect_via_queue", ["task:*", 60])["result"]
    batch = [
        {"jsonrpc": "2.0", "method": "send_message", "params": [token, "task:a"]},
        {"jsonrpc": "2.0", "method": "send_message", "params": [token, "task:b"], "id": 7},
        {"jsonrpc": "2.0", "method": "get_nowait", "params": [token], "id": 8},
    ]

    answers = http.post(endpoint, json=batch).json()
    only_notification = http.post(endpoint, json=batch[:1])
    local = twitter("task:c")

    assert [a["id"] for a in answers] == [7, 8]
    assert answers[1]["result"]["id"] == "task:a"
    assert only_notification.status_code == 204
    assert only_notification.content == b""
    ids = [call(http, endpoint, "get_nowait", [token])["result"]["id"] for _ in range(3)]
    assert ids == ["task:b", "task:a", "task:c"]
    assert local.id == "task:c"


def test_raw_body_without_content_type(http: httpx.Client, endpoint: str):
    response = http.post(
        endpoint,
        content=b'{"jsonrpc": "2.0", "method": "status", "id": 1}',
        headers={"Content-Type": ""},
    )

    assert response.status_code == 200
    assert response.json()["result"]["node"]


def test_1_0_client_over_http(http: httpx.Client, endpoint: str):
    token = http.post(endpoint, json={"method": "connect_oneway", "params": [60], "id": 1}).json()
    answer = http.post(
        endpoint,
        json={"method": "send_message", "params": [token["result"], "a:b", [], {}], "id": 2},
    ).json()

    assert answer == {"result": "ok", "error": None, "id": 2}


def test_no_key_over_http(endpoint: str):
    response = httpx.post(endpoint, json={"jsonrpc": "2.0", "method": "status", "id": 1})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == UNAUTHENTICATED


def test_get_is_405_over_http(http: httpx.Client, endpoint: str):
    response = http.get(endpoint)

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    response.json()
