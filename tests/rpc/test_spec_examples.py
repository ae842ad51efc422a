"""The JSON-RPC 2.0 specification's section 7 examples, adapted to berryMQ's methods.

Each test names the example it adapts. The specification's methods map to ours:
"subtract" and "update" become send_message, "get_data" becomes status, and
"foobar", "sum", "foo.get" stay as they are: methods we do not have.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from berrymq_django import Message

from .helpers import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NOTIFY,
    PARSE_ERROR,
    assert_valid_v2,
    body,
    call,
    error,
    post,
    post_raw,
    result,
    rpc,
)

Follow = Callable[[str], list[Message]]


def assert_single_error(response, code: int, id=None) -> dict:
    """Check a single 2.0 error object with code and id; return it."""
    err = error(response, id=id)
    assert err["code"] == code, err
    return err


def assert_batch(response) -> list[dict]:
    """Check an array of valid 2.0 response objects came back with HTTP 200; return it."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    answers = body(response)
    assert isinstance(answers, list), answers
    for answer in answers:
        assert_valid_v2(answer)
    return answers


def assert_no_content(response) -> None:
    assert response.status_code == 204, (response.status_code, response.content[:500])
    assert response.content == b""
    assert "Content-Type" not in response.headers  # nothing to type


# -- rpc call with positional parameters --------------------------------------


def test_call_with_positional_parameters(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:created")

    response = rpc(client, "send_message", [oneway_token, "order:created", [42, 23], {}], id=1)

    assert body(response) == {"jsonrpc": "2.0", "result": "ok", "id": 1}
    assert [m.args for m in received] == [(42, 23)]


def test_positional_parameters_keep_their_order(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:created")

    rpc(client, "send_message", [oneway_token, "order:created", [23, 42], {}], id=2)

    assert [m.args for m in received] == [(23, 42)]


# -- rpc call with named parameters -------------------------------------------


def test_call_with_named_parameters(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:created")
    params = {"token": oneway_token, "identifier": "order:created", "args": [42], "kwargs": {}}

    response = rpc(client, "send_message", params, id=3)

    assert body(response) == {"jsonrpc": "2.0", "result": "ok", "id": 3}
    assert [m.args for m in received] == [(42,)]


def test_named_parameters_in_any_order(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:created")
    params = {"kwargs": {"total": "9.90"}, "args": [], "identifier": "order:created"}
    params["token"] = oneway_token

    response = rpc(client, "send_message", params, id=4)

    assert body(response) == {"jsonrpc": "2.0", "result": "ok", "id": 4}
    assert [m.kwargs for m in received] == [{"total": "9.90"}]


# -- a Notification -----------------------------------------------------------


def test_notification_gets_no_response_but_is_delivered(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("order:created")

    response = rpc(client, "send_message", [oneway_token, "order:created", [1, 2, 3, 4, 5]], NOTIFY)

    assert_no_content(response)
    assert [m.args for m in received] == [(1, 2, 3, 4, 5)]


def test_notification_of_an_unknown_method_gets_no_response(client: Client):
    assert_no_content(rpc(client, "foobar", [], NOTIFY))


def test_notification_with_bad_params_gets_no_response(client: Client):
    assert_no_content(rpc(client, "send_message", ["no such token", "a:b"], NOTIFY))


@pytest.mark.parametrize("method", ["get", "get_nowait"])
def test_a_get_sent_as_a_notification_takes_nothing(
    client: Client, oneway_token: str, connect_queue: Callable[..., str], method: str
):
    # Nobody reads a notification's answer: the message it took would be lost.
    queue = connect_queue("order:*")
    rpc(client, "send_message", [oneway_token, "order:created", [1]])

    assert_no_content(rpc(client, method, [queue], NOTIFY))
    assert_no_content(post(client, [call(method, [queue], NOTIFY)]))  # in a batch too

    assert result(rpc(client, "get_nowait", [queue]))["args"] == [1]


# -- rpc call of non-existent method ------------------------------------------


def test_call_of_non_existent_method(client: Client):
    response = rpc(client, "foobar", None, id="1")

    err = assert_single_error(response, METHOD_NOT_FOUND, id="1")
    assert "foobar" in err["message"]


# -- rpc call with invalid JSON -----------------------------------------------


def test_call_with_invalid_json(client: Client):
    response = post_raw(client, b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')

    assert_single_error(response, PARSE_ERROR, id=None)


# -- rpc call with invalid Request object -------------------------------------


def test_call_with_invalid_request_object(client: Client):
    response = post(client, {"jsonrpc": "2.0", "method": 1, "params": "bar"})

    assert_single_error(response, INVALID_REQUEST, id=None)


# -- rpc call Batch, invalid JSON ---------------------------------------------


def test_batch_with_invalid_json(client: Client):
    response = post_raw(
        client,
        b'[{"jsonrpc": "2.0", "method": "send_message", "params": [1,2,4], "id": "1"},'
        b'{"jsonrpc": "2.0", "method"]',
    )

    assert_single_error(response, PARSE_ERROR, id=None)


# -- rpc call with an empty Array ---------------------------------------------


def test_empty_array(client: Client):
    assert_single_error(post(client, []), INVALID_REQUEST, id=None)


# -- rpc call with an invalid Batch (but not empty) ---------------------------


def test_batch_of_one_non_object(client: Client):
    answers = assert_batch(post(client, [1]))

    assert len(answers) == 1
    assert answers[0]["id"] is None
    assert answers[0]["error"]["code"] == INVALID_REQUEST


# -- rpc call with invalid Batch ----------------------------------------------


def test_batch_of_three_non_objects(client: Client):
    answers = assert_batch(post(client, [1, 2, 3]))

    assert len(answers) == 3
    for answer in answers:
        assert answer["id"] is None
        assert answer["error"]["code"] == INVALID_REQUEST


# -- rpc call Batch -----------------------------------------------------------


def test_mixed_batch(client: Client, oneway_token: str, connect_queue, follow: Follow):
    received = follow("order:*")
    queue_token = connect_queue("order:*")
    batch = [
        call("send_message", [oneway_token, "order:created", [1, 2, 4]], "1"),
        call("send_message", [oneway_token, "order:hello", [7]], NOTIFY),
        call("get_nowait", [queue_token], "2"),
        {"foo": "boo"},
        call("foo.get", {"name": "myself"}, "5"),
        call("status", None, "9"),
    ]

    answers = assert_batch(post(client, batch))

    # One answer per request that is not a notification, in request order.
    assert [a["id"] for a in answers] == ["1", "2", None, "5", "9"]
    assert answers[0]["result"] == "ok"
    message = answers[1]["result"]
    assert message["id"] == "order:created"
    assert message["args"] == [1, 2, 4]
    assert answers[2]["error"]["code"] == INVALID_REQUEST
    assert answers[3]["error"]["code"] == METHOD_NOT_FOUND
    assert isinstance(answers[4]["result"], dict)
    # The notification in the middle was delivered too, after the first call.
    assert [m.id for m in received] == ["order:created", "order:hello"]


def test_batch_answers_follow_request_order(client: Client, oneway_token: str):
    batch = [call("send_message", [oneway_token, f"order:n{i}"], i) for i in range(20)]

    answers = assert_batch(post(client, batch))

    assert [a["id"] for a in answers] == list(range(20))
    assert {a["result"] for a in answers} == {"ok"}


# -- rpc call Batch (all notifications) ---------------------------------------


def test_batch_of_notifications_gets_no_content(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:*")
    batch = [
        call("send_message", [oneway_token, "order:sum", [1, 2, 4]], NOTIFY),
        call("send_message", [oneway_token, "order:hello", [7]], NOTIFY),
    ]

    assert_no_content(post(client, batch))
    assert [m.args for m in received] == [(1, 2, 4), (7,)]


def test_batch_of_failing_notifications_gets_no_content(client: Client):
    batch = [call("notify_sum", [1, 2, 4], NOTIFY), call("get_nowait", [1, 2], NOTIFY)]

    assert_no_content(post(client, batch))


# -- beyond section 7: what the examples imply --------------------------------


def test_string_number_and_null_ids_are_echoed(client: Client):
    for request_id in ("abc", "", 7, -1, 2.5, None):
        assert isinstance(result(rpc(client, "status", [], id=request_id), id=request_id), dict)


def test_id_of_the_wrong_type_is_an_invalid_request(client: Client):
    for request_id in ({"a": 1}, [1], True):
        response = rpc(client, "status", [], id=request_id)
        assert_single_error(response, INVALID_REQUEST, id=None)


def test_jsonrpc_member_other_than_2_0_is_an_invalid_request(client: Client):
    for version in ("1.0", "2", 2.0, None):
        response = post(client, {"jsonrpc": version, "method": "status", "id": 1})
        assert error_with_readable_id(response)["code"] == INVALID_REQUEST, version


def test_params_neither_array_nor_object_is_an_invalid_request(client: Client):
    for params in ("bar", 3, True):
        response = rpc(client, "status", params)
        assert error_with_readable_id(response)["code"] == INVALID_REQUEST, params


def test_request_without_method_is_an_invalid_request(client: Client):
    response = post(client, {"jsonrpc": "2.0", "params": [], "id": 1})
    assert error_with_readable_id(response)["code"] == INVALID_REQUEST


def test_non_object_json_values_are_invalid_requests(client: Client):
    for payload in (1, "status", None, True):
        assert_single_error(post(client, payload), INVALID_REQUEST, id=None)


def test_content_type_is_not_required(client: Client):
    response = post_raw(
        client, b'{"jsonrpc": "2.0", "method": "status", "id": 1}', content_type="text/plain"
    )

    assert isinstance(result(response), dict)


def error_with_readable_id(response) -> dict:
    """Return the error of an invalid request whose id (1) was readable.

    The specification: "If there was an error in detecting the id in the
    Request object (e.g. Parse error/Invalid Request), it MUST be Null."
    """
    return error(response, id=None)
