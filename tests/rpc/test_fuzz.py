"""Throw thousands of generated hostile bodies at the endpoint (hypothesis).

Whatever the body, with a valid key the endpoint answers 200 with valid
JSON-RPC (a 2.0 or 1.0 response object, or a non-empty array of them) or
204 with no body; never a 500, and never -32603 (no follower raises here, so
an internal error means the input crashed a method). A batch gets one answer
per member that is not a notification. Afterwards the endpoint still serves
a good request, and what it had accepted before is still there.

The bodies: random bytes, random text, random JSON values, JSON-RPC-shaped
objects whose members have random types, batches of those, calls of the real
methods with params mixing live tokens, identifiers good and bad and random
values, and valid calls cut short or spliced with garbage. ``interconnect``
is called only with addresses that point nowhere (port 9 on loopback) or
that it must refuse: a random host would make the server dial out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berrymq_django import Message

from .conftest import berrymq_config
from .helpers import (
    INTERNAL_ERROR,
    KEY_B,
    KEY_C,
    METHODS,
    assert_valid_response,
    body,
    post_raw,
    result,
    rpc,
)

# At least 5,000 generated bodies in all (issue 4); the tests below add up to it.
EXAMPLES = {"raw": 1_000, "json": 1_500, "calls": 2_500}
MAX_BATCH = 20
SAFE_ADDRS = ["http://127.0.0.1:9/berrymq/rpc/", ["127.0.0.1", 9]]

Follow = Callable[[str], list[Message]]

# -- strategies -------------------------------------------------------------------


# Hand-bounded rather than st.recursive, and sampled nasty values rather than long
# random text: generating the bodies costs more than serving them.
strings = st.sampled_from(
    ["", " ", "a b", "\x00", "ünï", "😀", "null", "2.0", "task:run", "*", "{", '"', "\\", "x" * 30]
) | st.text(max_size=6)
lone_surrogates = st.sampled_from(["\ud800", "x\udfff", "\udc00\udbff"])
numbers = (
    st.integers(min_value=-(2**63), max_value=2**64)
    | st.integers()  # beyond 64 bits too
    | st.sampled_from([0.0, -0.0, 0.5, 1e308, 5e-324, 2.0**63, -1.0, 1e-3])
)
scalars = st.none() | st.booleans() | numbers | strings | lone_surrogates
keys = st.sampled_from(["id", "args", "kwargs", "uid", "origin", "token", "x", ""]) | st.text(
    max_size=4
)
json_values = (
    scalars
    | st.lists(scalars, max_size=3)
    | st.dictionaries(keys, scalars, max_size=3)
    | st.lists(st.lists(scalars, max_size=2), max_size=2)
    | st.dictionaries(keys, st.lists(scalars, max_size=2), max_size=2)
)
identifiers = st.sampled_from(
    ["task:run", "task:*", "*", "*:*", "fuzz", "a@ns:b", "_local:x", "keep:fuzz"]
) | st.sampled_from(["", " ", "a b", "a:b:c", "a@b@c:d", ":", "@", "x" * 500, "é:ü"])
ids = st.none() | numbers | strings | json_values


def request_object(method, params, request_id, version) -> dict[str, Any]:
    """Build a request; a None-valued strategy member means "leave it out"."""
    obj: dict[str, Any] = {}
    if version is not None:
        obj["jsonrpc"] = version
    obj["method"] = method
    if params is not None:
        obj["params"] = params
    if request_id is not _MISSING:
        obj["id"] = request_id
    return obj


_MISSING = object()

rpc_shaped = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | st.sampled_from(["1.0", "2", ""]) | scalars,
        "method": st.sampled_from([*METHODS, "foobar", "rpc.", ""]) | scalars,
        "params": st.lists(json_values, max_size=4) | json_values,
        "id": ids,
        "extra": scalars,
    },
)


def method_calls(tokens: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Calls of the real methods with params drawn from values that reach deep into them."""
    token_values = st.sampled_from([*tokens, "no-such-token", ""])
    messages = st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "id": identifiers | json_values,
                "args": json_values,
                "kwargs": json_values,
                "uid": st.sampled_from(["dup-1", "dup-2"]) | scalars,
                "origin": scalars,
            },
        )
        | json_values,
        max_size=6,
    )
    values = (
        token_values
        | identifiers
        | st.floats(min_value=0, max_value=0.05)  # ttls and timeouts that keep things quick
        | st.booleans()
        | messages
        | json_values
    )
    named = st.fixed_dictionaries(
        {},
        optional={
            name: values
            for name in (
                "token",
                "identifier",
                "callback_identifier",
                "args",
                "kwargs",
                "uid",
                "origin",
                "ttl",
                "block",
                "timeout",
                "messages",
                "bogus",
            )
        },
    )
    callable_methods = [m for m in METHODS if m != "interconnect"]
    calls = st.builds(
        request_object,
        st.sampled_from([*callable_methods, "foobar"]),
        st.lists(values, max_size=6) | named | st.none(),
        st.sampled_from([_MISSING]) | ids,
        st.sampled_from(["2.0", None]),
    )
    interconnects = st.builds(
        request_object,
        st.just("interconnect"),
        st.lists(
            st.sampled_from(SAFE_ADDRS) | numbers | st.lists(numbers, max_size=3),
            max_size=1,
        ).flatmap(
            lambda addr: st.tuples(st.just(addr), st.lists(values, max_size=3)).map(
                lambda parts: parts[0] + parts[1]
            )
        ),
        ids,
        st.just("2.0"),
    )
    return calls | interconnects


def request_bodies(tokens: list[str]) -> st.SearchStrategy[bytes]:
    """JSON text of single calls, batches (some around MAX_BATCH) and mutilated calls."""
    one = method_calls(tokens) | rpc_shaped
    long_batches = st.builds(
        lambda n, element: [element] * n, st.integers(MAX_BATCH - 1, MAX_BATCH + 2), one
    )
    dumped = (one | st.lists(one | scalars, max_size=6) | long_batches).map(
        lambda value: json.dumps(value).encode()
    )
    mutilated = st.tuples(dumped, st.integers(min_value=0), st.binary(max_size=8)).map(
        lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2]
    )
    return dumped | mutilated


# -- oracle -----------------------------------------------------------------------


def is_notification(element: Any) -> bool:
    """True: a 2.0 notification that must get no answer; False: must be answered."""
    if not isinstance(element, dict):
        return False
    if "jsonrpc" not in element:
        return False  # 1.0: every call is answered, null id included, as berryMQ 0.3's server did
    if element["jsonrpc"] != "2.0" or "id" in element:
        return False
    if not isinstance(element.get("method"), str):
        return False
    return isinstance(element.get("params", []), list | dict)


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_answer(raw: bytes, response: Any) -> None:
    """Assert the response is what the contract allows for this request body."""
    status = response.status_code
    assert status in (200, 204), (status, raw[:200], response.content[:300])
    if status == 204:
        assert response.content == b"", response.content[:300]
    else:
        assert response["Content-Type"].startswith("application/json")
        answer = body(response)  # strict: no NaN or Infinity
        assert_valid_response(answer)
        # No follower raises here, so an internal error means bad input crashed a method:
        # it deserved its own code (-32602 and the like) instead.
        for obj in answer if isinstance(answer, list) else [answer]:
            assert (obj.get("error") or {}).get("code") != INTERNAL_ERROR, (raw[:300], obj)
    try:
        request = json.loads(raw, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        return
    if isinstance(request, dict):
        assert status == 204 or isinstance(answer, dict), answer
        assert status == 200 or is_notification(request), request
    if isinstance(request, list) and 0 < len(request) <= MAX_BATCH:
        answers = [] if status == 204 else answer
        assert isinstance(answers, list), answers
        verdicts = [is_notification(element) for element in request]
        assert len(answers) == verdicts.count(False), (request, answers)


# -- the tests ----------------------------------------------------------------------


def run_fuzz(strategy: st.SearchStrategy[bytes], examples: int) -> int:
    """Post every generated body with a valid key; return how many were posted."""
    client = Client()
    posted = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def post_one(raw: bytes) -> None:
        nonlocal posted
        posted += 1
        check_answer(raw, post_raw(client, raw, key=KEY_B))

    post_one()
    return posted


def fuzz_and_check_nothing_is_lost(
    follow: Follow, make_strategy: Callable[[list[str]], st.SearchStrategy[bytes]], examples: int
) -> None:
    client = Client()
    kept_follower = follow("keep:*")
    # site-c's queue: the fuzz speaks as site-b, so it cannot touch it even by guessing.
    kept_queue = result(rpc(client, "connect_via_queue", ["keep:*", 3600], key=KEY_C))
    sender = result(rpc(client, "connect_oneway", [3600], key=KEY_C))
    for i in range(3):
        rpc(
            client,
            "send_message",
            [sender, "keep:before", [i], {}, f"keep-{i}-{time.time()}"],
            key=KEY_C,
        )
    fuzz_tokens = [
        result(rpc(client, "connect_via_queue", ["*", 3600])),
        result(rpc(client, "connect_oneway", [3600])),
        kept_queue,  # a foreign token: always "invalid token" for site-b
    ]

    with berrymq_config(MAX_POLL_SECONDS=0.001, MAX_BATCH=MAX_BATCH):  # no call waits
        posted = run_fuzz(make_strategy(fuzz_tokens), examples)
    assert posted >= examples
    # Stop calling back the fuzz's "peers": interconnect once more, then close.
    for addr in SAFE_ADDRS:
        token = result(rpc(client, "interconnect", [addr, "cleanup", 60]))
        assert result(rpc(client, "close_connection", [token])) == "ok"

    # Nothing accepted before is lost, and the site still serves.
    before = [m for m in kept_follower if m.id == "keep:before"]
    assert [m.args for m in before] == [(0,), (1,), (2,)]
    pulled = [result(rpc(client, "get_nowait", [kept_queue], key=KEY_C)) for _ in range(3)]
    assert [(m["id"], m["args"]) for m in pulled] == [("keep:before", [i]) for i in range(3)]
    assert (
        result(rpc(client, "send_message", [sender, "keep:after", ["still here"]], key=KEY_C))
        == "ok"
    )
    assert kept_follower[-1].args == ("still here",)


def test_fuzz_raw_bytes_and_text(follow: Follow):
    bodies = st.binary(max_size=300) | st.text(max_size=200).map(str.encode)
    fuzz_and_check_nothing_is_lost(follow, lambda tokens: bodies, EXAMPLES["raw"])


def test_fuzz_json_values_and_rpc_shaped_objects(follow: Follow):
    bodies = (json_values | rpc_shaped | st.lists(rpc_shaped | json_values, max_size=6)).map(
        lambda value: json.dumps(value).encode()
    )
    fuzz_and_check_nothing_is_lost(follow, lambda tokens: bodies, EXAMPLES["json"])


def test_fuzz_method_calls_and_batches(follow: Follow):
    fuzz_and_check_nothing_is_lost(follow, request_bodies, EXAMPLES["calls"])


def test_examples_add_up_to_five_thousand():
    assert sum(EXAMPLES.values()) >= 5_000
