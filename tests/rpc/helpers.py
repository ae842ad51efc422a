"""Call the JSON-RPC endpoint through Django's test Client and check what comes back.

    response = rpc(client, "connect_via_queue", ["task:*", 60])
    token = result(response)
    assert error(rpc(client, "get_nowait", [token]))["code"] == TIMEOUT

``rpc`` builds one JSON-RPC 2.0 call (``id=NOTIFY`` leaves the id out,
``jsonrpc=None`` makes it a 1.0 request); ``post`` sends any JSON value and
``post_raw`` any bytes. ``key=None`` sends no Authorization header.
"""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from berrymq_django.backends.memory import MemoryBackend

# Principals and their keys, as the tests configure BERRYMQ["API_KEYS"].
KEY_B = "k" * 32
KEY_C = "c" * 32
API_KEYS = {"site-b": KEY_B, "site-c": KEY_C}
NODE_NAME = "test-node"


class FreshMemoryBackend(MemoryBackend):
    """The memory backend under another class name.

    Switching BERRYMQ["BACKEND"] to it (and back) makes the app build a new
    backend, so each test starts with no connections and no remembered uids,
    whatever earlier tests left to expire.
    """


# JSON-RPC 2.0 codes, then the application codes of the contract.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
INVALID_TOKEN = -32000
TIMEOUT = -32001
FORBIDDEN = -32003
UNAUTHENTICATED = -32004
LIMIT_EXCEEDED = -32010
THROTTLED = -32029

# Every procedure the contract names.
METHODS = (
    "connect_oneway",
    "interconnect",
    "connect_via_queue",
    "send_message",
    "send_messages",
    "get",
    "get_nowait",
    "close_connection",
    "talk",
    "status",
    "rpc.discover",
)

# Pass as id to send a notification (no "id" member).
NOTIFY: Any = object()


def rpc_url() -> str:
    """Return the endpoint's path, as the URLconf names it."""
    return reverse("berrymq:rpc")


def headers_for(key: str | None) -> dict[str, str]:
    """Return the test Client headers that authenticate with key (none when None)."""
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def post_raw(
    client: Client,
    body: bytes | str,
    *,
    key: str | None = KEY_B,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    """POST body as is to the endpoint (headers added to the key's); return the response."""
    return client.post(
        rpc_url(),
        data=body,
        content_type=content_type,
        headers={**headers_for(key), **(headers or {})},
        **extra,
    )


def post(client: Client, payload: Any, *, key: str | None = KEY_B, **extra: Any) -> Any:
    """POST payload, JSON-encoded, to the endpoint."""
    return post_raw(client, json.dumps(payload), key=key, **extra)


def call(
    method: Any, params: Any = None, id: Any = 1, *, jsonrpc: str | None = "2.0"
) -> dict[str, Any]:
    """Return one request object; params None leaves "params" out, id NOTIFY leaves "id" out."""
    request: dict[str, Any] = {} if jsonrpc is None else {"jsonrpc": jsonrpc}
    request["method"] = method
    if params is not None:
        request["params"] = params
    if id is not NOTIFY:
        request["id"] = id
    return request


def rpc(
    client: Client,
    method: Any,
    params: Any = None,
    id: Any = 1,
    *,
    key: str | None = KEY_B,
    jsonrpc: str | None = "2.0",
) -> Any:
    """Call method on the endpoint with params (array or object); return the response."""
    return post(client, call(method, params, id, jsonrpc=jsonrpc), key=key)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (Python's json module writes it, JSON has no such value)")


def body(response: Any) -> Any:
    """Return the response body decoded as strict JSON (fails the test when it is not JSON)."""
    try:
        return json.loads(response.content, parse_constant=_reject_constant)
    except ValueError as exc:  # pragma: no cover - only when the endpoint misbehaves
        raise AssertionError(
            f"HTTP {response.status_code} body is not JSON: {response.content[:300]!r}"
        ) from exc


def response_object(response: Any, *, id: Any = 1) -> dict[str, Any]:
    """Check a single 2.0 response object with the given id came back with HTTP 200."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    obj = body(response)
    assert isinstance(obj, dict), obj
    assert_valid_v2(obj)
    assert obj["id"] == id, obj
    return obj


def result(response: Any, *, id: Any = 1) -> Any:
    """Return the result of a successful 2.0 call (fails the test on an error)."""
    obj = response_object(response, id=id)
    assert "error" not in obj, obj
    return obj["result"]


def error(response: Any, *, id: Any = 1) -> dict[str, Any]:
    """Return the error member of a failed 2.0 call (fails the test on a result)."""
    obj = response_object(response, id=id)
    assert "result" not in obj, obj
    return obj["error"]


def assert_error_object(err: Any) -> None:
    """Check err is a JSON-RPC error object: int code, str message, optional data."""
    assert isinstance(err, dict), err
    assert set(err) <= {"code", "message", "data"}, err
    assert type(err.get("code")) is int, err
    assert isinstance(err.get("message"), str), err
    assert err["message"], err


def assert_valid_v2(obj: Any) -> None:
    """Check obj is a JSON-RPC 2.0 response object: jsonrpc, id, exactly one of result/error."""
    assert isinstance(obj, dict), obj
    assert obj.get("jsonrpc") == "2.0", obj
    assert "id" in obj, obj
    assert obj["id"] is None or isinstance(obj["id"], str | int | float), obj
    assert ("result" in obj) != ("error" in obj), obj
    assert set(obj) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), obj
    if "error" in obj:
        assert_error_object(obj["error"])


def assert_valid_v1(obj: Any) -> None:
    """Check obj is a JSON-RPC 1.0 response: result, error and id, one of the first two null."""
    assert isinstance(obj, dict), obj
    assert set(obj) == {"result", "error", "id"}, obj
    if obj["error"] is not None:
        assert obj["result"] is None, obj
        assert_error_object(obj["error"])


def assert_valid_response(obj: Any) -> None:
    """Check obj is a response object of either version, or a non-empty array of them."""
    if isinstance(obj, list):
        assert obj, "a batch response must not be an empty array"
        for item in obj:
            assert not isinstance(item, list), obj
            assert_valid_response(item)
    elif isinstance(obj, dict) and "jsonrpc" in obj:
        assert_valid_v2(obj)
    else:
        assert_valid_v1(obj)
