"""Rules of interconnection (``--peer``): the endpoint calls the calling site back correctly.

The kit's ``CallbackSite`` interconnects with the endpoint and plays the
peer; these rules check what the endpoint then sends it. Each rule's id is
a section label of docs/protocol.rst.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..rpc.protocol import INVALID_TOKEN
from .callback import CallbackSite
from .check import Failure, Kit, eventually, expect, rule, short
from .methods import bad_params

__all__: list[str] = []


def _site(kit: Kit) -> CallbackSite:
    if kit.callback is None:
        raise Failure("runs with --peer only")
    return kit.callback


def _token(kit: Kit) -> str:
    if kit.peer_token is None:
        raise Failure("needs the interconnect rule to have passed")
    return kit.peer_token


def _received(kit: Kit, uid: str, what: str) -> dict[str, Any]:
    """Wait until the calling site accepted the message with uid; return it."""
    site = _site(kit)

    def find() -> dict[str, Any] | None:
        return next((m for m in site.snapshot()[1] if m.get("uid") == uid), None)

    return eventually(find, kit.wait, f"the endpoint to send {what} to the calling site")


def _messages(params: Any) -> list[dict[str, Any]]:
    """Return the messages of send_messages params (positional or named), [] if malformed."""
    if isinstance(params, dict):
        messages = params.get("messages")
    else:
        messages = params[1] if isinstance(params, list) and len(params) > 1 else None
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _send(kit: Kit, action: str, origin: str | None, *args: Any) -> str:
    """Twitter a message on the endpoint through the interconnect token; return its uid."""
    uid = f"conformance-{secrets.token_hex(8)}"
    ok = kit.endpoint.call("send_message", _token(kit), kit.identifier(action), list(args), {},
                           uid, origin)  # fmt: skip
    expect(ok == "ok", f"send_message: expected 'ok', got {short(ok)}")
    return uid


@rule(
    "interconnect", "interconnect returns a token and the endpoint starts calling back", peer=True
)
def interconnect(kit: Kit) -> str:
    site = _site(kit)
    bad_params(kit, "interconnect", ["ftp://nowhere", site.token, 60], "addr", "ftp://nowhere")
    bad_params(kit, "interconnect", [site.url, "has space", 60], "token")
    token = kit.endpoint.call("interconnect", site.url, site.token, 60)
    expect(isinstance(token, str) and token, f"interconnect: expected a token, got {short(token)}")
    kit.peer_token = token

    def called_back() -> bool | None:
        return any(c.method == "send_messages" for c in site.snapshot()[0]) or None

    eventually(called_back, kit.wait, f"a send_messages call back to {site.url}")
    methods = sorted({c.method for c in site.snapshot()[0]})
    return f"a token, then calls back: {', '.join(methods)}"


@rule(
    "forward",
    "a message twittered on the endpoint reaches the peer, uid and origin kept",
    peer=True,
)
def forward(kit: Kit) -> str:
    origin = f"conformance-elsewhere-{secrets.token_hex(4)}"
    uid = _send(kit, "forward", origin, "hello", 1)
    message = _received(kit, uid, "a forwarded message")
    expected = {"id": kit.identifier("forward"), "args": ["hello", 1], "origin": origin}
    got = {key: message.get(key) for key in expected}
    expect(got == expected, f"forwarded as {short(message, 160)}")
    return "forwarded in send_messages with id, args, uid and origin"


@rule("origin-peer", "a message whose origin is the peer's node is not sent back to it", peer=True)
def origin_peer(kit: Kit) -> str:
    site = _site(kit)
    own = _send(kit, "origin-peer", site.node, "own")
    marker = _send(kit, "origin-peer", f"conformance-elsewhere-{secrets.token_hex(4)}", "marker")
    _received(kit, marker, "the marker sent after it")
    uids = [m.get("uid") for m in site.snapshot()[1]]
    expect(own not in uids, f"a message with origin {site.node!r} (status' node) came back")
    return f"origin {site.node!r} (the node status answered) kept away from the peer"


@rule("seen", "a message whose 'seen' names the peer is not forwarded to it", peer=True)
def seen(kit: Kit) -> str:
    site = _site(kit)
    elsewhere = f"conformance-elsewhere-{secrets.token_hex(4)}"
    has_it = {"id": kit.identifier("seen"), "uid": f"conformance-{secrets.token_hex(8)}",
              "origin": elsewhere, "seen": [site.node]}  # fmt: skip
    counts = kit.endpoint.call("send_messages", _token(kit), [has_it])
    expect(counts == {"accepted": 1, "duplicates": 0}, f"send_messages: {short(counts)}")
    marker = _send(kit, "seen", elsewhere, "marker")
    _received(kit, marker, "the marker sent after it")
    uids = [m.get("uid") for m in site.snapshot()[1]]
    expect(has_it["uid"] not in uids, f"sent to the peer although its 'seen' named {site.node!r}")
    return "delivered on the endpoint, not forwarded to the site its seen named"


@rule("retry", "a batch the peer answers with HTTP 503 is sent again, same uids", peer=True)
def retry(kit: Kit) -> str:
    site = _site(kit)
    site.fail_next = True
    uid = _send(kit, "retry", f"conformance-elsewhere-{secrets.token_hex(4)}", "again")
    _received(kit, uid, "the message again after a 503")
    refused = [
        c for c in site.snapshot()[0]
        if c.status == 503 and any(m.get("uid") == uid for m in _messages(c.params))
    ]  # fmt: skip
    expect(refused, "the 503 was never given: the message came in a batch not refused")
    return "refused once with 503, delivered by a retry with the same uid"


@rule(
    "callback-auth", "every call back presents the peer's token as Bearer and as 'token'", peer=True
)
def callback_auth(kit: Kit) -> str:
    site = _site(kit)
    calls = site.snapshot()[0]
    expect(calls, "the endpoint never called back")
    wrong = [c for c in calls if c.authorization != f"Bearer {site.token}"]
    expect(not wrong, f"{len(wrong)} call(s) without 'Bearer <token>', e.g. {short(wrong[:1])}")
    sends = [c for c in calls if c.method == "send_messages"]
    bad = [c for c in sends if not (isinstance(c.params, list) and c.params[:1] == [site.token])]
    expect(not bad, f"send_messages without the token as first param: {short(bad[:1])}")
    asked = any(c.method == "status" for c in calls)
    return (
        f"{len(calls)} call(s) back, all with the token; status asked: {'yes' if asked else 'no'}"
    )


@rule("interconnect-close", "close_connection ends an interconnect: its token is -32000", peer=True)
def interconnect_close(kit: Kit) -> str:
    token = _token(kit)
    expect(kit.endpoint.call("close_connection", token) == "ok", "close_connection: not 'ok'")
    kit.peer_token = None
    kit.endpoint.error("send_message", token, kit.identifier("closed"), code=INVALID_TOKEN)
    return "'ok', then -32000 for the token"
