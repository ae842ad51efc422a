"""Rules of the limits: each exceeded limit is its own JSON-RPC error, never a 500.

The limits are those ``status`` reports (``limits``), or the defaults of
docs/protocol.rst. Each rule's id is a section label of docs/protocol.rst.
"""

from __future__ import annotations

from typing import Any

from ..rpc.protocol import INVALID_PARAMS, LIMIT_EXCEEDED
from .check import Kit, expect, rule, short
from .endpoint import Answer, expect_error
from .methods import oneway

__all__: list[str] = []


def _limit_error(answer: Answer, setting: str, limit: int, what: str) -> None:
    """Check answer is error -32010 whose data names setting and limit."""
    expect(answer.status < 500, f"{what}: HTTP {answer.status}, not a JSON-RPC error")
    error = expect_error(answer.json, LIMIT_EXCEEDED, what)
    data: Any = error.get("data")
    expect(
        isinstance(data, dict) and data.get("setting") == setting and data.get("limit") == limit,
        f"{what}: data must be {{'setting': {setting!r}, 'limit': {limit}, ...}}, "
        f"got {short(data)}",
    )


@rule("limit-batch", "a batch longer than MAX_BATCH is -32010 naming MAX_BATCH")
def limit_batch(kit: Kit) -> str:
    limit = kit.limit("MAX_BATCH")
    call = {"jsonrpc": "2.0", "method": "conformance.no_such_method"}
    answer = kit.endpoint.post([call] * (limit + 1))
    _limit_error(answer, "MAX_BATCH", limit, f"a batch of {limit + 1}")
    return f"-32010 for {limit + 1} calls"


@rule("limit-messages", "send_messages over MAX_MESSAGES_PER_CALL is -32010, nothing sent")
def limit_messages(kit: Kit) -> str:
    limit = kit.limit("MAX_MESSAGES_PER_CALL")
    token = oneway(kit)
    messages = [{"id": kit.identifier("too-many")}] * (limit + 1)
    request = kit.endpoint.request("send_messages", token, messages)
    answer = kit.endpoint.post(request)
    _limit_error(answer, "MAX_MESSAGES_PER_CALL", limit, f"{limit + 1} messages")
    return f"-32010 for {limit + 1} messages"


@rule("limit-body", "a body over MAX_BODY_BYTES is -32010 naming MAX_BODY_BYTES")
def limit_body(kit: Kit) -> str:
    limit = kit.limit("MAX_BODY_BYTES")
    head = b'{"jsonrpc": "2.0", "id": 1, "method": "status", "params": {"pad": "'
    tail = b'"}}'
    body = head + b"x" * (limit + 1 - len(head) - len(tail)) + tail
    answer = kit.endpoint.post(body, wait=10.0)
    _limit_error(answer, "MAX_BODY_BYTES", limit, f"a body of {len(body)} bytes")
    return f"-32010 for {len(body)} bytes"


@rule("limit-depth", "JSON nested deeper than MAX_DEPTH is -32010 naming MAX_DEPTH")
def limit_depth(kit: Kit) -> str:
    limit = kit.limit("MAX_DEPTH")
    deep: Any = "x"
    for _ in range(limit + 1):
        deep = [deep]
    answer = kit.endpoint.post(kit.endpoint.request("status", deep))
    _limit_error(answer, "MAX_DEPTH", limit, f"a request nested past {limit} levels")
    return f"-32010 past {limit} levels"


@rule("limit-identifier", "an identifier over MAX_IDENTIFIER_LENGTH is -32602 naming the limit")
def limit_identifier(kit: Kit) -> str:
    limit = kit.limit("MAX_IDENTIFIER_LENGTH")
    token = oneway(kit)
    name = kit.name + "-" + "x" * max(1, limit - len(kit.name))
    identifier = f"{name}:long"
    error = kit.endpoint.error("send_message", token, identifier, code=INVALID_PARAMS)
    expect("MAX_IDENTIFIER_LENGTH" in error["message"], f"not named: {error['message']}")
    return f"-32602 for {len(identifier)} characters"
