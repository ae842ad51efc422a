"""The endpoint behind a real HTTP server (pytest-django's live_server), called with httpx."""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.urls import reverse

from berrymq_django import Message, register_function, twitter

from .client_v03 import ServerProxyV03
from .conftest import berrymq_config
from .helpers import INVALID_TOKEN, KEY_B, KEY_C, TIMEOUT, UNAUTHENTICATED


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


# -- berryMQ 0.3's client ----------------------------------------------------------


@pytest.fixture
def v03_url(live_server) -> str:
    """The URL 0.3's connect_*() builds from (host, port), the key riding in the host.

    It has no path, so the client posts to /JSON.
    """
    parts = urlsplit(live_server.url)
    host, port = f"site-b:{KEY_B}@{parts.hostname}", parts.port
    return f"http://{host}:{port}"


@pytest.mark.urls("tests.rpc.urls_v03")
def test_a_0_3_client_pulls_a_queue(v03_url: str):
    with ServerProxyV03(v03_url) as proxy:
        token = proxy.call("connect_via_queue", "task:*", 1000)
        twitter("task:run", 5, level="high")
        identifier, args, kwargs = proxy.get(token, True, 1000)
        empty = proxy.call("get_nowait", token)
        unknown = proxy.call("get_nowait", "no-such-token")

    assert (identifier, args, kwargs) == ("task:run", [5], {"level": "high"})
    assert empty == "timeout"
    assert unknown == "invalid token"


@pytest.mark.urls("tests.rpc.urls_v03")
def test_a_0_3_client_sends_one_way(v03_url: str):
    received: list[Message] = []
    register_function("log:*", received.append)
    with ServerProxyV03(v03_url) as proxy:
        token = proxy.call("connect_oneway", 1000)
        answer = proxy.call("send_message", token, "log:info", ["hello"], {"level": 1})

    assert answer == "ok"
    assert [(m.id, m.args, m.kwargs) for m in received] == [("log:info", ("hello",), {"level": 1})]


def test_a_0_3_client_on_the_mounted_endpoint(endpoint: str):
    parts = urlsplit(endpoint)
    with ServerProxyV03(f"http://site-c:{KEY_C}@{parts.netloc}{parts.path}") as proxy:
        assert proxy.call("status")["node"]


def test_a_0_3_client_with_a_wrong_key_is_refused(endpoint: str):
    parts = urlsplit(endpoint)
    with (
        ServerProxyV03(f"http://site-b:{'x' * 32}@{parts.netloc}{parts.path}") as proxy,
        pytest.raises(xmlrpc.client.ProtocolError) as refused,
    ):
        proxy.call("status")

    assert refused.value.errcode == 401
