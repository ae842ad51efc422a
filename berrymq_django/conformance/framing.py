"""Rules of the transport and the framing: credentials, JSON-RPC errors, batches, 1.0 calls.

Each rule's id is a section label of docs/protocol.rst.
"""

from __future__ import annotations

from typing import Any

from ..rpc.protocol import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNAUTHENTICATED,
)
from .check import Failure, Kit, expect, rule, short
from .endpoint import expect_error
from .queues import pull, queue

__all__: list[str] = []


@rule("auth", "a call without credentials, or with a wrong key, is refused with 401 and -32004")
def auth(kit: Kit) -> str:
    endpoint = kit.endpoint
    wrong_key = {"Authorization": "Bearer conformance-wrong-key"}
    for headers, what in (({}, "no credentials"), (wrong_key, "a wrong key")):
        answer = endpoint.post(endpoint.request("status"), auth=False, headers=headers)
        expect(answer.status == 401, f"{what}: expected HTTP 401, got {answer.describe()}")
        expect_error(answer.json, UNAUTHENTICATED, what)
        challenge = answer.headers.get("WWW-Authenticate", "")
        expect("bearer" in challenge.lower(), f"{what}: WWW-Authenticate is {challenge!r}")
    return "401 and -32004 without credentials and with a wrong key"


@rule("status", "status answers the node name and protocol version (and limits) to a key holder")
def status(kit: Kit) -> str:
    report = kit.endpoint.call("status")
    expect(isinstance(report, dict), f"status: expected an object, got {short(report)}")
    node = report.get("node")
    expect(isinstance(node, str) and node, f"status: 'node' must be a string, not {short(node)}")
    kit.node = node
    protocol = report.get("protocol")
    expect(
        isinstance(protocol, str) and protocol.startswith("1."),
        f"status: 'protocol' must be a 1.x version string, not {short(protocol)}",
    )
    limits = report.get("limits")
    if isinstance(limits, dict):
        kit.limits.update({k: v for k, v in limits.items() if isinstance(v, int | float)})
        return f"node {node!r}, protocol {protocol}, limits reported"
    return f"node {node!r}, protocol {protocol}, no limits reported (the defaults are assumed)"


@rule("parse-error", "a body that is not JSON is error -32700 with id null")
def parse_error(kit: Kit) -> str:
    answer = kit.endpoint.post(b'{"jsonrpc": "2.0", "method": "status", "id": 1')
    expect(answer.status == 200, f"expected HTTP 200, got {answer.describe()}")
    error = expect_error(answer.json, PARSE_ERROR, "a truncated body")
    expect(answer.json.get("id", "missing") is None, f"id must be null: {answer.describe()}")
    return f"-32700: {short(error['message'], 60)}"


@rule("invalid-request", "a request object that is malformed, or an empty batch, is -32600")
def invalid_request(kit: Kit) -> str:
    bad: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": 42},
        {"jsonrpc": "3.0", "id": 1, "method": "status"},
        {"jsonrpc": "2.0", "id": 1, "method": "status", "params": "x"},
        [],
    ]
    for body in bad:
        answer = kit.endpoint.post(body)
        expect_error(answer.json, INVALID_REQUEST, short(body))
    return "-32600 for a bad method, jsonrpc, params, and an empty batch"


@rule("method-not-found", "an unknown method is -32601, answered with the request's id")
def method_not_found(kit: Kit) -> str:
    request = kit.endpoint.request("conformance.no_such_method")
    reply = kit.endpoint.response(request)
    error = expect_error(reply, METHOD_NOT_FOUND, "an unknown method")
    expect("no_such_method" in error["message"], f"the error names no method: {error['message']}")
    return f"-32601: {short(error['message'], 60)}"


@rule("batch", "a batch is answered with an array: one response per call that has an id")
def batch(kit: Kit) -> str:
    endpoint = kit.endpoint
    first, last = endpoint.request("status"), endpoint.request("conformance.no_such_method")
    notification = {"jsonrpc": "2.0", "method": "conformance.no_such_method"}
    answer = endpoint.post([first, notification, last])
    replies = answer.json
    expect(isinstance(replies, list), f"expected an array, got {answer.describe()}")
    by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
    expect(
        len(replies) == 2 and set(by_id) == {first["id"], last["id"]},
        f"expected responses to ids {first['id']} and {last['id']} only, got {short(replies)}",
    )
    expect("result" in by_id[first["id"]], f"status in a batch failed: {short(by_id[first['id']])}")
    expect_error(by_id[last["id"]], METHOD_NOT_FOUND, "an unknown method in a batch")
    return "two responses for three calls (the notification unanswered)"


@rule("notification", "a call without id is run and not answered (HTTP 204)")
def notification(kit: Kit) -> str:
    endpoint = kit.endpoint
    identifier = kit.identifier("notification")
    with queue(kit, identifier) as token:
        note = {"jsonrpc": "2.0", "method": "send_message", "params": [token, identifier, ["n"]]}
        answer = endpoint.post(note)
        expect(
            answer.status in (200, 204) and not answer.body.strip(),
            f"a notification must get no answer, got {answer.describe()}",
        )
        message = pull(kit, token)
        expect(message.get("args") == ["n"], f"the queue got {short(message)}, not the message")
    return f"HTTP {answer.status}, no body, and the message was delivered"


@rule("jsonrpc-1-0", "a request without 'jsonrpc' is answered in 1.0 form, id null included")
def jsonrpc_1_0(kit: Kit) -> str:
    answer = kit.endpoint.post({"method": "status", "params": [], "id": None})
    reply = answer.json
    expect(isinstance(reply, dict), f"expected an object, got {answer.describe()}")
    expect(
        set(reply) == {"result", "error", "id"} and reply["error"] is None and reply["id"] is None,
        f"expected {{result, error: null, id: null}}, got {short(reply)}",
    )
    if not isinstance(reply["result"], dict):
        raise Failure(f"status in 1.0: expected an object, got {short(reply['result'])}")
    return "answered {result, error: null, id: null}"
