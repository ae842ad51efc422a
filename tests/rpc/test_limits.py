"""Limits and hostile bodies: each exceeded limit is its JSON-RPC error, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from berrymq_django import Message

from .conftest import berrymq_config
from .helpers import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    PARSE_ERROR,
    assert_valid_response,
    body,
    call,
    error,
    post,
    post_raw,
    result,
    rpc,
)

Follow = Callable[[str], list[Message]]


def assert_limit(err: dict, setting: str, limit: int) -> None:
    assert err["code"] == LIMIT_EXCEEDED, err
    data = err.get("data")
    assert isinstance(data, dict), err
    assert data["setting"] == setting, err
    assert data["limit"] == limit, err
    assert data["got"] > limit, err


def assert_json_rpc_answer(response) -> object:
    """Check the endpoint answered (200/204) with a valid JSON-RPC body; return it."""
    assert response.status_code in (200, 204), (response.status_code, response.content[:300])
    if response.status_code == 204:
        assert response.content == b""
        return None
    obj = body(response)
    assert_valid_response(obj)
    return obj


def limit_error(response) -> dict:
    """Return the error of a limit hit before any call ran: one response, id null."""
    return error(response, id=None)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


# -- MAX_BODY_BYTES ------------------------------------------------------------


def test_body_over_max_body_bytes(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    with berrymq_config(MAX_BODY_BYTES=1000):
        response = rpc(client, "send_message", [oneway_token, "big:one", ["x" * 2000]])

    assert_limit(error(response, id=None), "MAX_BODY_BYTES", 1000)
    assert received == []


def test_body_at_max_body_bytes_is_served(client: Client, oneway_token: str):
    with berrymq_config(MAX_BODY_BYTES=1000):
        payload = call("send_message", [oneway_token, "big:one", [""]])
        padding = 1000 - len(json.dumps(payload))
        payload["params"][2] = ["x" * padding]
        raw = json.dumps(payload)
        assert len(raw) == 1000

        assert result(post_raw(client, raw)) == "ok"


def test_body_between_django_upload_limit_and_max_body_bytes_is_served(
    client: Client, oneway_token: str, follow: Follow
):
    """MAX_BODY_BYTES (4 MiB by default) governs, not DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB)."""
    received = follow("big:*")
    big = "x" * (3 * 1024 * 1024)

    response = rpc(client, "send_message", [oneway_token, "big:one", [big]])

    assert result(response) == "ok"
    assert len(received[0].args[0]) == len(big)


def test_body_over_the_default_max_body_bytes(client: Client, oneway_token: str):
    big = "x" * (5 * 1024 * 1024)

    response = rpc(client, "send_message", [oneway_token, "big:one", [big]])

    assert_limit(error(response, id=None), "MAX_BODY_BYTES", 4 * 1024 * 1024)


# -- MAX_BATCH -----------------------------------------------------------------


def test_batch_over_max_batch(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    with berrymq_config(MAX_BATCH=3):
        batch = [call("send_message", [oneway_token, "b:x"], i) for i in range(4)]
        response = post(client, batch)

    assert_limit(error(response, id=None), "MAX_BATCH", 3)
    assert received == []


def test_batch_at_max_batch(client: Client, oneway_token: str):
    with berrymq_config(MAX_BATCH=3):
        batch = [call("send_message", [oneway_token, "b:x"], i) for i in range(3)]
        answers = body(post(client, batch))

    assert [a["result"] for a in answers] == ["ok"] * 3


# -- MAX_DEPTH -------------------------------------------------------------------


def test_nesting_over_max_depth(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    with berrymq_config(MAX_DEPTH=5):
        response = rpc(client, "send_message", [oneway_token, "deep:x", nested(10)])

    assert_limit(limit_error(response), "MAX_DEPTH", 5)
    assert received == []


def test_nesting_over_max_depth_in_objects(client: Client, oneway_token: str):
    value: dict = {}
    for _ in range(10):
        value = {"k": value}
    with berrymq_config(MAX_DEPTH=5):
        response = rpc(client, "send_message", [oneway_token, "deep:x", [], value])

    assert_limit(limit_error(response), "MAX_DEPTH", 5)


def test_nesting_within_max_depth_is_served(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    # The whole body counts: {"params": [token, id, args=[<value>]]} adds three levels.
    response = rpc(client, "send_message", [oneway_token, "deep:x", [nested(20)]])

    assert result(response) == "ok"
    assert received[0].args == (nested(20),)


def test_nesting_over_the_default_max_depth(client: Client, oneway_token: str):
    response = rpc(client, "send_message", [oneway_token, "deep:x", nested(100)])

    assert_limit(limit_error(response), "MAX_DEPTH", 32)


@pytest.mark.parametrize("depth", [33, 1_000, 1_024, 1_025, 1_026, 2_000, 200_000])
def test_pathological_nesting_is_a_max_depth_error(client: Client, depth: int):
    """Past where the JSON parsers give up (about 1,000 levels) too, and malformed or not."""
    for raw in (
        "[" * depth + "]" * depth,
        '{"a":' * depth + "1" + "}" * depth,
        "[" * depth,  # never closed
        '{"jsonrpc": "2.0", "method": "status", "params": ' + "[" * depth + "]" * depth + "}",
        '["\\ud800", ' + "[" * depth + "]" * depth + "]",  # only the fallback parser takes it
        '["a string with [[[[ and \\"]]]", ' + "{" * depth + "}" * depth + "]",
    ):
        err = limit_error(post_raw(client, raw))
        assert_limit(err, "MAX_DEPTH", 32)
        assert err["data"]["got"] == 33, err  # counted no further than over the limit
        assert "more than 32" in err["message"], err


def test_max_depth_counts_no_further_than_over_the_limit(client: Client):
    with berrymq_config(MAX_DEPTH=5):
        for raw in ("[" * 200_000, "[" * 10 + "]" * 10, '{"a": ' * 10 + "1" + "}" * 10):
            err = limit_error(post_raw(client, raw))
            assert err["data"] == {"setting": "MAX_DEPTH", "limit": 5, "got": 6}, err


def test_brackets_in_strings_do_not_count(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    text = "[[[[{{{{" * 100 + '\\"[[['

    response = rpc(client, "send_message", [oneway_token, "deep:x", [text]])
    broken = post_raw(client, '["' + text.replace("\\", "") + "[[[[")

    assert result(response) == "ok"
    assert received[0].args == (text,)
    assert error(broken, id=None)["code"] == PARSE_ERROR


def test_malformed_within_max_depth_is_a_parse_error(client: Client):
    for raw in ("[" * 10, "[" * 32, '{"a": [1, 2}', "[" * 20 + "x" + "]" * 20):
        assert error(post_raw(client, raw), id=None)["code"] == PARSE_ERROR, raw


# -- MAX_IDENTIFIER_LENGTH -------------------------------------------------------


def test_identifier_over_max_identifier_length(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    long_identifier = "n" * 20 + ":" + "a" * 9  # 30 characters
    with berrymq_config(MAX_IDENTIFIER_LENGTH=20):
        assert error(rpc(client, "send_message", [oneway_token, long_identifier]))["code"] == (
            INVALID_PARAMS
        )
        assert error(rpc(client, "connect_via_queue", [long_identifier, 60]))["code"] == (
            INVALID_PARAMS
        )
        messages = [{"id": "ok:x"}, {"id": long_identifier}]
        assert error(rpc(client, "send_messages", [oneway_token, messages]))["code"] == (
            INVALID_PARAMS
        )
        assert error(rpc(client, "talk", [oneway_token, long_identifier, "ok:y"]))["code"] == (
            INVALID_PARAMS
        )
        assert error(rpc(client, "talk", [oneway_token, "ok:x", long_identifier]))["code"] == (
            INVALID_PARAMS
        )
        # Exactly at the limit is fine.
        assert result(rpc(client, "send_message", [oneway_token, "n" * 10 + ":" + "a" * 9])) == (
            "ok"
        )

    assert [m.id for m in received] == ["n" * 10 + ":" + "a" * 9]


def test_default_max_identifier_length(client: Client, oneway_token: str):
    response = rpc(client, "send_message", [oneway_token, "n" * 300 + ":x"])

    assert error(response)["code"] == INVALID_PARAMS


# -- MAX_MESSAGES_PER_CALL -----------------------------------------------------------


def test_messages_over_max_messages_per_call(client: Client, oneway_token: str, follow: Follow):
    received = follow("*")
    with berrymq_config(MAX_MESSAGES_PER_CALL=3):
        messages = [{"id": "m:x", "args": [i]} for i in range(4)]
        response = rpc(client, "send_messages", [oneway_token, messages])
        assert_limit(error(response), "MAX_MESSAGES_PER_CALL", 3)
        assert received == []

        response = rpc(client, "send_messages", [oneway_token, messages[:3]])
        assert result(response) == {"accepted": 3, "duplicates": 0}


# -- encodings and numbers -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jsonrpc": "2.0", "method": "status", "id": 1, "x": "\xff"}',
        b'{"jsonrpc": "2.0", "method": "st\xc3\x28tus", "id": 1}',
        b'\xfe\xff{"jsonrpc": "2.0", "method": "status", "id": 1}',
        b'{"jsonrpc": "2.0", "method": "status", "id": 1, "x": "\xed\xa0\x80"}',
    ],
    ids=["invalid-byte", "invalid-sequence", "bom-bytes", "utf8-encoded-surrogate"],
)
def test_invalid_utf8_is_a_parse_error(client: Client, raw: bytes):
    assert error(post_raw(client, raw), id=None)["code"] == PARSE_ERROR


def test_lone_surrogate_escape_is_no_500(client: Client, oneway_token: str, connect_queue):
    token = connect_queue("s:*")
    raw = json.dumps(call("send_message", [oneway_token, "s:x", ["\ud800"]]))

    assert_json_rpc_answer(post_raw(client, raw))
    assert_json_rpc_answer(rpc(client, "get_nowait", [token]))


def test_utf8_bom_is_no_500(client: Client):
    assert_json_rpc_answer(post_raw(client, b'\xef\xbb\xbf{"jsonrpc": "2.0", "method": "status"}'))


@pytest.mark.parametrize(
    "number",
    ["1e999", "-1e999", "1" + "0" * 400, "-" + "9" * 400, "1e-999", "18446744073709551616"],
)
def test_huge_numbers_are_no_500(client: Client, oneway_token: str, connect_queue, number: str):
    token = connect_queue("n:*")
    bodies = [
        f'{{"jsonrpc": "2.0", "method": "send_message", '
        f'"params": ["{oneway_token}", "n:x", [{number}]], "id": 1}}',
        f'{{"jsonrpc": "2.0", "method": "status", "id": {number}}}',
        f'{{"jsonrpc": "2.0", "method": "connect_oneway", "params": [{number}], "id": 1}}',
        f'{{"jsonrpc": "2.0", "method": "get", "params": ["{token}", true, {number}], "id": 1}}',
    ]
    for raw in bodies:
        assert_json_rpc_answer(post_raw(client, raw))
    # Whatever was accepted can be pulled back out as JSON.
    assert_json_rpc_answer(rpc(client, "get_nowait", [token]))


def test_out_of_range_float_beside_a_huge_integer_comes_back_as_json(
    client: Client, oneway_token: str, connect_queue
):
    """1e999 parses to infinity, which JSON cannot write; 10**400 needs a slower encoder."""
    token = connect_queue("n:*")
    raw = (
        f'{{"jsonrpc": "2.0", "method": "send_message", '
        f'"params": ["{oneway_token}", "n:x", [1e999, -1e999, {"1" + "0" * 400}]], "id": 1}}'
    )

    assert_json_rpc_answer(post_raw(client, raw))
    assert_json_rpc_answer(rpc(client, "get_nowait", [token]))
    assert_json_rpc_answer(rpc(client, "status", [], id=10**400))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_a_parse_error(client: Client, literal: str):
    raw = f'{{"jsonrpc": "2.0", "method": "connect_oneway", "params": [{literal}], "id": 1}}'

    assert error(post_raw(client, raw), id=None)["code"] == PARSE_ERROR


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"", PARSE_ERROR),
        (b" ", PARSE_ERROR),
        (b"\x00", PARSE_ERROR),
        (b"null", INVALID_REQUEST),
        (b'"', PARSE_ERROR),
        (b"{", PARSE_ERROR),
        (b"[", PARSE_ERROR),
        (b"{}", INVALID_REQUEST),
        (b"[[]]", INVALID_REQUEST),
        (b'{"jsonrpc": "2.0"}', INVALID_REQUEST),
    ],
)
def test_degenerate_bodies(client: Client, raw: bytes, code: int):
    obj = assert_json_rpc_answer(post_raw(client, raw))
    assert obj is not None
    codes = [o["error"]["code"] for o in (obj if isinstance(obj, list) else [obj])]
    assert codes == [code], obj


def test_empty_body_is_a_parse_error(client: Client):
    assert error(post_raw(client, b""), id=None)["code"] == PARSE_ERROR


def test_a_chunked_body_that_reached_the_site_empty_is_named(client: Client):
    """Under WSGI Django reads Content-Length bytes: gunicorn hands a chunked body over empty."""
    answer = error(post_raw(client, b"", HTTP_TRANSFER_ENCODING="chunked"), id=None)

    assert answer["code"] == PARSE_ERROR
    assert "Transfer-Encoding: chunked" in answer["message"]
    assert "send it with a Content-Length" in answer["message"]


def test_duplicate_members_are_no_500(client: Client):
    raw = b'{"jsonrpc": "2.0", "method": "status", "method": "nope", "id": 1, "id": 2}'
    assert_json_rpc_answer(post_raw(client, raw))


def test_huge_string_id_is_no_500(client: Client):
    assert_json_rpc_answer(rpc(client, "status", [], id="i" * 100_000))


def test_big_ttl_and_timeout_values_are_no_500(client: Client, connect_queue):
    token = connect_queue("t:*")
    for params in ([1e308], [2**63], [1e-300]):
        assert_json_rpc_answer(rpc(client, "connect_oneway", params))
    for timeout in (1e308, 2**63, 1e-300, 0):
        assert_json_rpc_answer(rpc(client, "get", [token, True, timeout]))
