"""Rules of the methods: each one's happy path, and its bad params named in the error.

Each rule's id is a section label of docs/protocol.rst.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..rpc.protocol import INVALID_PARAMS, INVALID_TOKEN, TIMEOUT
from .check import Kit, expect, rule, short
from .queues import empty, pull, queue

__all__ = ["METHODS", "bad_params", "oneway"]

#: The methods every berryMQ endpoint serves (rpc.discover must list them).
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


def oneway(kit: Kit) -> str:
    """Return a fresh sending token (connect_oneway, ttl 120 s)."""
    token = kit.endpoint.call("connect_oneway", 120)
    expect(
        isinstance(token, str) and token, f"connect_oneway: expected a token, got {short(token)}"
    )
    return str(token)


def bad_params(kit: Kit, method: str, params: list[Any], *names: str) -> str:
    """Call method with bad params: expect -32602 whose message names each of names."""
    error = kit.endpoint.error(method, *params, code=INVALID_PARAMS)
    message = error["message"]
    missing = [name for name in names if name not in message]
    expect(not missing, f"{method}{short(params, 60)}: -32602 does not name {missing}: {message}")
    return str(message)


@rule("connect-oneway", "connect_oneway(ttl) returns a token; a bad ttl is -32602 naming it")
def connect_oneway(kit: Kit) -> str:
    oneway(kit)
    bad_params(kit, "connect_oneway", [-1], "ttl", "-1")
    bad_params(kit, "connect_oneway", ["soon"], "ttl", "soon")
    bad_params(kit, "connect_oneway", [60, 1], "connect_oneway")
    return "a token; -32602 naming 'ttl' for -1 and 'soon', and too many params refused"


@rule("send-message", "send_message delivers once; bad identifiers and params are -32602")
def send_message(kit: Kit) -> str:
    token = oneway(kit)
    identifier = kit.identifier("send-message")
    with queue(kit, identifier) as pulled:
        result = kit.endpoint.call("send_message", token, identifier, [1, "two"], {"k": [3]})
        expect(result == "ok", f"send_message: expected 'ok', got {short(result)}")
        message = pull(kit, pulled)
        expect(
            message.get("id") == identifier and message.get("args") == [1, "two"]
            and message.get("kwargs") == {"k": [3]},
            f"the queue got {short(message, 120)}",
        )  # fmt: skip
        for field, kind in (("uid", str), ("origin", str), ("timestamp", int | float)):
            value = message.get(field)
            expect(isinstance(value, kind), f"the message's {field!r} is {short(value)}")
    bad_params(kit, "send_message", [token, "a:b:c"], "a:b:c")
    bad_params(kit, "send_message", [token, "_local:x"], "_local:x")
    bad_params(kit, "send_message", [token, identifier, "not-a-list"], "args")
    bad_params(kit, "send_message", [token], "identifier")
    return "delivered with id, args, kwargs, uid, origin, timestamp; bad values named"


@rule("send-messages", "send_messages counts what it accepted; a bad message is named by index")
def send_messages(kit: Kit) -> str:
    token = oneway(kit)
    identifier = kit.identifier("send-messages")
    with queue(kit, identifier) as pulled:
        batch = [{"id": identifier, "args": [i]} for i in range(3)]
        result = kit.endpoint.call("send_messages", token, batch)
        expected = {"accepted": 3, "duplicates": 0}
        expect(result == expected, f"send_messages: expected {expected}, got {short(result)}")
        got = [pull(kit, pulled).get("args") for _ in range(3)]
        expect(got == [[0], [1], [2]], f"the queue got {short(got)}, not the three in order")
    bad = [{"id": identifier}, {"id": "a:b:c"}]
    error = kit.endpoint.error("send_messages", token, bad, code=INVALID_PARAMS)
    data = error.get("data")
    expect(
        isinstance(data, dict) and data.get("index") == 1 and "a:b:c" in error["message"],
        f"a bad messages[1]: expected data {{'index': 1}} and the value named, got {short(error)}",
    )
    bad_params(kit, "send_messages", [token, [{"id": identifier, "uid": 5}]], "messages[0].uid")
    bad_params(kit, "send_messages", [token, [{"args": []}]], "id")
    return "accepted 3 in order; messages[1] named with data.index; a bad uid named"


@rule("connect-via-queue", "connect_via_queue returns a token whose queue collects matches")
def connect_via_queue(kit: Kit) -> str:
    token = oneway(kit)
    pattern = f"{kit.name}:*"
    with queue(kit, pattern) as pulled:
        kit.endpoint.call("send_message", token, "conformance-elsewhere:x")
        kit.endpoint.call("send_message", token, kit.identifier("matched"))
        message = pull(kit, pulled)
        expect(
            message.get("id") == kit.identifier("matched"),
            f"a queue on {pattern!r} got {short(message.get('id'))}",
        )
    bad_params(kit, "connect_via_queue", ["a b:c"], "a b:c")
    bad_params(kit, "connect_via_queue", [pattern, 0], "ttl")
    return "the pattern's messages only; bad identifier and ttl named"


@rule("get", "get long-polls a queue token: a message, or -32001 when none came in time")
def get(kit: Kit) -> str:
    with queue(kit, kit.identifier("get")) as pulled:
        kit.endpoint.error("get", pulled, True, 0.2, code=TIMEOUT, wait=0.2)
        bad_params(kit, "get", [pulled, True, -1], "timeout")
        bad_params(kit, "get", [pulled, "yes"], "block")
        oneway_token = oneway(kit)
        kit.endpoint.error("get", oneway_token, False, code=INVALID_PARAMS)
    return "-32001 after a 0.2 s wait; bad timeout and block named; a oneway token is -32602"


@rule("get-nowait", "get_nowait answers at once: the oldest message, or -32001")
def get_nowait(kit: Kit) -> str:
    token = oneway(kit)
    identifier = kit.identifier("get-nowait")
    with queue(kit, identifier) as pulled:
        empty(kit, pulled, "a new queue")
        kit.endpoint.call("send_message", token, identifier, ["first"])
        kit.endpoint.call("send_message", token, identifier, ["second"])
        first = pull(kit, pulled)  # waits until delivery (it may be asynchronous)
        second = pull(kit, pulled)
        expect(
            [first.get("args"), second.get("args")] == [["first"], ["second"]],
            f"expected the oldest first, got {short([first, second], 120)}",
        )
        empty(kit, pulled, "a drained queue")
    return "-32001 when empty, the oldest message first"


@rule("close-connection", "close_connection ends a token: it is -32000 afterwards")
def close_connection(kit: Kit) -> str:
    token = kit.endpoint.call("connect_via_queue", kit.identifier("closed"), 60)
    expect(kit.endpoint.call("close_connection", token) == "ok", "close_connection: not 'ok'")
    kit.endpoint.error("get_nowait", token, code=INVALID_TOKEN)
    kit.endpoint.error("close_connection", token, code=INVALID_TOKEN)
    return "'ok', then -32000 for get_nowait and a second close"


@rule("invalid-token", "an unknown token is -32000 for every method that takes one")
def invalid_token(kit: Kit) -> str:
    token = "conformance-" + secrets.token_urlsafe(24)
    identifier = kit.identifier("invalid-token")
    for method, params in (
        ("send_message", [token, identifier]),
        ("send_messages", [token, [{"id": identifier}]]),
        ("get", [token, False]),
        ("get_nowait", [token]),
        ("talk", [token, identifier, identifier]),
        ("close_connection", [token]),
    ):
        kit.endpoint.error(method, *params, code=INVALID_TOKEN)
    return "-32000 from send_message, send_messages, get, get_nowait, talk, close_connection"


@rule("talk", "talk calls the followers of an identifier and returns their results as an array")
def talk(kit: Kit) -> str:
    token = oneway(kit)
    identifier, answer = kit.identifier("ask"), kit.identifier("answer")
    with queue(kit, identifier) as pulled:
        results = kit.endpoint.call("talk", token, identifier, answer, ["q"], {"n": 1})
        expect(isinstance(results, list), f"talk: expected an array, got {short(results)}")
        message = pull(kit, pulled)
        expect(
            message.get("id") == identifier and message.get("args") == ["q"],
            f"the request reached the queue as {short(message)}",
        )
    bad_params(kit, "talk", [token, identifier, "a:b:c"], "callback_identifier", "a:b:c")
    return f"an array ({len(results)} result(s)); the request reached a follower queue"


@rule("rpc-discover", "rpc.discover returns an OpenRPC document listing every method")
def rpc_discover(kit: Kit) -> str:
    document = kit.endpoint.call("rpc.discover")
    expect(isinstance(document, dict), f"expected an object, got {short(document)}")
    methods = document.get("methods")
    expect(isinstance(methods, list), f"'methods' is {short(methods)}")
    names = {m.get("name") for m in methods if isinstance(m, dict)}
    missing = [name for name in METHODS if name not in names]
    expect(not missing, f"rpc.discover lists no {missing}")
    return f"OpenRPC {document.get('openrpc')!r} with all {len(METHODS)} methods"
