"""JSON-RPC 1.0, as berryMQ 0.3's clients speak it: no "jsonrpc" member, string results.

A 1.0 response has exactly result, error and id; the application errors of
the original protocol ("invalid token", "timeout") come back as results, a
message comes back as [identifier, args, kwargs], and a null id is answered
like any other (0.3's client sends null on every call).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from berrymq_django import Message, twitter
from tests.support import eventually

from .conftest import berrymq_config
from .helpers import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    KEY_C,
    METHOD_NOT_FOUND,
    assert_valid_v1,
    assert_valid_v2,
    body,
    post,
    result,
    rpc,
)

Follow = Callable[[str], list[Message]]


def v1(client: Client, method: str, params: list, id=1, **kwargs) -> dict:
    """Make a 1.0 call; check HTTP 200 and the 1.0 shape; return the response object."""
    response = rpc(client, method, params, id, jsonrpc=None, **kwargs)
    assert response.status_code == 200, (response.status_code, response.content[:500])
    obj = body(response)
    assert_valid_v1(obj)
    assert obj["id"] == id, obj
    return obj


def v1_result(client: Client, method: str, params: list, id=1, **kwargs):
    obj = v1(client, method, params, id, **kwargs)
    assert obj["error"] is None, obj
    return obj["result"]


def v1_error(client: Client, method: str, params: list, id=1, **kwargs) -> dict:
    obj = v1(client, method, params, id, **kwargs)
    assert obj["result"] is None, obj
    assert obj["error"] is not None, obj
    return obj["error"]


def test_connect_oneway_and_send_message(client: Client, follow: Follow):
    received = follow("log:*")

    token = v1_result(client, "connect_oneway", [60])
    answer = v1(client, "send_message", [token, "log:info", ["hello"], {}], id=2)

    assert isinstance(token, str)
    assert answer == {"result": "ok", "error": None, "id": 2}
    assert [m.args for m in received] == [("hello",)]


def test_queue_round_trip(client: Client):
    token = v1_result(client, "connect_via_queue", ["task:*", 60])
    twitter("task:run", 5, level="high")

    message = v1_result(client, "get", [token, True, 1])

    assert message == ["task:run", [5], {"level": "high"}]
    assert v1_result(client, "close_connection", [token]) == "ok"


def test_get_nowait_returns_identifier_args_kwargs(client: Client):
    token = v1_result(client, "connect_via_queue", ["task:*", 60])
    twitter("task:run", "a", [1, 2], n={"deep": True})

    identifier, args, kwargs = v1_result(client, "get_nowait", [token])

    assert (identifier, args, kwargs) == ("task:run", ["a", [1, 2]], {"n": {"deep": True}})


def test_a_2_0_get_still_returns_the_message_object(client: Client):
    token = result(rpc(client, "connect_via_queue", ["task:*", 60]))
    twitter("task:run", 5)

    message = result(rpc(client, "get_nowait", [token]))

    assert (message["id"], message["args"], message["kwargs"]) == ("task:run", [5], {})
    assert message["origin"] and message["uid"]


# -- a null id, as 0.3's client sends on every call --------------------------------


def test_a_null_id_is_answered(client: Client, follow: Follow):
    received = follow("log:*")

    token = v1_result(client, "connect_oneway", [60], id=None)
    answer = v1(client, "send_message", [token, "log:info", ["hi"], {}], id=None)

    assert isinstance(token, str)
    assert answer == {"result": "ok", "error": None, "id": None}
    assert [m.args for m in received] == [("hi",)]


def test_a_null_id_error_is_answered(client: Client):
    assert v1_error(client, "foobar", [], id=None)["code"] == METHOD_NOT_FOUND
    assert v1_result(client, "get_nowait", ["no-such-token"], id=None) == "invalid token"


def test_a_missing_id_is_answered_in_1_0(client: Client):
    response = post(client, {"method": "status", "params": []})

    assert response.status_code == 200
    obj = body(response)
    assert_valid_v1(obj)
    assert obj["id"] is None
    assert obj["result"]["node"]


def test_null_ids_in_a_batch_are_each_answered(client: Client):
    response = post(
        client,
        [
            {"method": "status", "params": [], "id": None},
            {"jsonrpc": "2.0", "method": "status", "params": []},  # a 2.0 notification
            {"method": "foobar", "params": [], "id": None},
        ],
    )

    answers = body(response)
    assert [sorted(a) for a in answers] == [["error", "id", "result"]] * 2
    assert answers[0]["result"]["node"]
    assert answers[1]["error"]["code"] == METHOD_NOT_FOUND


def test_timeout_is_a_result(client: Client):
    token = v1_result(client, "connect_via_queue", ["task:*", 60])

    assert v1(client, "get_nowait", [token], id=7) == {
        "result": "timeout",
        "error": None,
        "id": 7,
    }
    assert v1_result(client, "get", [token, True, 0.1]) == "timeout"
    assert v1_result(client, "get", [token, False, 0]) == "timeout"


def test_invalid_token_is_a_result(client: Client, follow: Follow):
    received = follow("*")

    for method, params in [
        ("send_message", ["no-such-token", "a:b", [], {}]),
        ("get_nowait", ["no-such-token"]),
        ("get", ["no-such-token", True, 0.1]),
        ("close_connection", ["no-such-token"]),
    ]:
        assert v1_result(client, method, params) == "invalid token", method
    assert received == []


def test_foreign_token_is_an_invalid_token_result(client: Client):
    token = v1_result(client, "connect_via_queue", ["task:*", 60])

    assert v1_result(client, "get_nowait", [token], key=KEY_C) == "invalid token"


def test_expired_token_is_an_invalid_token_result(client: Client):
    token = v1_result(client, "connect_oneway", [0.1])
    eventually(lambda: v1_result(client, "status", [])["connections"], until=lambda live: not live)

    assert v1_result(client, "send_message", [token, "a:b", [], {}]) == "invalid token"


def test_interconnect(client: Client):
    token = v1_result(client, "interconnect", [["127.0.0.1", 9], "their-token", 60])
    assert isinstance(token, str)
    assert v1_result(client, "close_connection", [token]) == "ok"


def test_unknown_method_is_a_1_0_error(client: Client):
    err = v1_error(client, "foobar", [], id=5)
    assert err["code"] == METHOD_NOT_FOUND


def test_bad_params_are_a_1_0_error(client: Client):
    token = v1_result(client, "connect_oneway", [60])

    err = v1_error(client, "send_message", [token, "bad id", [], {}])

    assert err["code"] == INVALID_PARAMS


def test_string_ids_are_echoed(client: Client):
    assert v1(client, "status", [], id="abc")["id"] == "abc"


def test_params_must_be_an_array(client: Client):
    response = post(client, {"method": "status", "params": {}, "id": 1})

    assert response.status_code == 200
    obj = body(response)
    error = obj["error"]
    assert error["code"] == INVALID_REQUEST, obj
    assert_valid_v1(obj)  # a 1.0 object, if not a valid one, is answered in 1.0


def test_status_and_discover_answer_in_1_0(client: Client):
    assert isinstance(v1_result(client, "status", []), dict)
    assert v1_result(client, "rpc.discover", [])["openrpc"] == "1.2.6"


def test_a_1_0_response_never_carries_the_jsonrpc_member(client: Client):
    for method, params in [("status", []), ("foobar", []), ("get_nowait", ["x"])]:
        obj = v1(client, method, params)
        assert "jsonrpc" not in obj


@pytest.mark.parametrize("version", [None, "2.0"])
def test_the_same_call_in_both_versions(client: Client, version):
    with berrymq_config(MAX_POLL_SECONDS=0.1):
        token = body(rpc(client, "connect_via_queue", ["task:*", 60], jsonrpc=version))["result"]
        obj = body(rpc(client, "get", [token, True, 1], jsonrpc=version))

    if version is None:
        assert obj == {"result": "timeout", "error": None, "id": 1}
    else:
        assert_valid_v2(obj)
        assert obj["error"]["message"] == "timeout"
