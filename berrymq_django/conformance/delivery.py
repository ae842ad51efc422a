"""Rules of delivery: a uid is delivered once, and a message that started here stays here.

Each rule's id is a section label of docs/protocol.rst. Absence is seen
without sleeping: a marker message is sent after the one that must not
arrive, and the queue, which keeps order, must give the marker first.
"""

from __future__ import annotations

import secrets

from .check import Kit, expect, rule, short
from .methods import oneway
from .queues import empty, pull, queue

__all__: list[str] = []


@rule("uid-dedup", "a uid accepted within DEDUP_SECONDS is acknowledged and not delivered again")
def uid_dedup(kit: Kit) -> str:
    token = oneway(kit)
    identifier = kit.identifier("dedup")
    uid = f"conformance-{secrets.token_hex(8)}"
    endpoint = kit.endpoint
    with queue(kit, identifier) as pulled:
        first = endpoint.call("send_messages", token, [{"id": identifier, "uid": uid, "args": [1]}])
        again = endpoint.call("send_messages", token, [{"id": identifier, "uid": uid, "args": [2]}])
        expect(first == {"accepted": 1, "duplicates": 0}, f"the first send: {short(first)}")
        expect(again == {"accepted": 0, "duplicates": 1}, f"the same uid again: {short(again)}")
        twice = [{"id": identifier, "uid": uid + "-b"}] * 2
        both = endpoint.call("send_messages", token, twice)
        expect(both == {"accepted": 1, "duplicates": 1}, f"one uid twice in a batch: {short(both)}")
        ok = endpoint.call("send_message", token, identifier, [3], {}, uid)
        expect(ok == "ok", f"send_message of a seen uid must still answer 'ok', got {short(ok)}")
        endpoint.call("send_message", token, identifier, ["marker"])
        got = [pull(kit, pulled) for _ in range(3)]
        expect(
            [m.get("uid") for m in got[:2]] == [uid, uid + "-b"] and got[0].get("args") == [1],
            f"expected the uid once (args [1]), then {uid}-b: got {short(got, 160)}",
        )
        expect(got[2].get("args") == ["marker"], f"a duplicate was delivered: {short(got[2])}")
        empty(kit, pulled, "after the marker")
    return "4 sends of 2 uids delivered 2 messages; duplicates counted"


@rule(
    "origin-here",
    "a message whose origin is the endpoint's own node is acknowledged, not delivered",
)
def origin_here(kit: Kit) -> str:
    expect(kit.node, "needs the node name from status (see the status rule)")
    token = oneway(kit)
    identifier = kit.identifier("origin-here")
    with queue(kit, identifier) as pulled:
        ok = kit.endpoint.call("send_message", token, identifier, ["back"], {}, None, kit.node)
        expect(ok == "ok", f"send_message with origin {kit.node!r}: expected 'ok', got {short(ok)}")
        batch = [{"id": identifier, "args": ["back"], "origin": kit.node}]
        counts = kit.endpoint.call("send_messages", token, batch)
        expect(
            isinstance(counts, dict) and counts.get("accepted") == 0,
            f"send_messages with origin {kit.node!r}: expected none accepted, got {short(counts)}",
        )
        kit.endpoint.call("send_message", token, identifier, ["marker"], {}, None, "conformance-x")
        message = pull(kit, pulled)
        expect(
            message.get("args") == ["marker"], f"delivered although it came back: {short(message)}"
        )
        expect(message.get("origin") == "conformance-x", f"origin not kept: {short(message)}")
    return f"origin {kit.node!r} not delivered; another origin kept as given"
