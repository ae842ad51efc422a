"""Every berryMQ procedure of the endpoint, its params, results and errors, over HTTP."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from berrymq_django import Message, Queue, register_function, twitter
from berrymq_django.core.api import default_dispatcher
from berrymq_django.rpc.protocol import encode
from tests.support import eventually

from .conftest import berrymq_config
from .helpers import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_TOKEN,
    KEY_C,
    METHODS,
    NODE_NAME,
    TIMEOUT,
    body,
    call,
    error,
    post,
    result,
    rpc,
)

Follow = Callable[[str], list[Message]]
MESSAGE_KEYS = {"id", "args", "kwargs", "uid", "origin", "timestamp"}
# Where interconnected "peers" live: the server calls them back, and loopback's discard
# port refuses at once. Each test closes its interconnect, which stops the callback.
PEER_URL = "http://127.0.0.1:9/berrymq/rpc/"


def new_uid() -> str:
    return uuid.uuid4().hex


def connections(client: Client) -> int:
    """Return how many live connections status reports.

    The contract says an int; a count per style is summed here so that the
    tests of opening, closing and expiry do not all fail on that one point
    (test_status_describes_the_node checks the type).
    """
    count = result(rpc(client, "status", []))["connections"]
    if isinstance(count, dict):
        count = sum(count.values())
    assert type(count) is int
    return count


def assert_error(response, code: int) -> dict:
    err = error(response)
    assert err["code"] == code, err
    return err


# -- connect_oneway ----------------------------------------------------------


def test_connect_oneway_returns_an_unguessable_token(client: Client):
    tokens = {result(rpc(client, "connect_oneway", [60])) for _ in range(5)}

    assert len(tokens) == 5
    for token in tokens:
        assert isinstance(token, str)
        assert len(token) >= 43  # secrets.token_urlsafe(32): 256 bits


def test_connect_oneway_by_name(client: Client):
    assert isinstance(result(rpc(client, "connect_oneway", {"ttl": 60})), str)


def test_connect_oneway_token_sends(client: Client, follow: Follow):
    received = follow("log:*")
    token = result(rpc(client, "connect_oneway", [60]))

    assert result(rpc(client, "send_message", [token, "log:info", ["started"]])) == "ok"
    assert [m.args for m in received] == [("started",)]


def test_oneway_token_has_no_queue_to_pull(client: Client, oneway_token: str):
    response = rpc(client, "get_nowait", [oneway_token])

    err = assert_error(response, INVALID_PARAMS)  # a client mistake, not a server crash
    assert "oneway" in err["message"], err


@pytest.mark.parametrize("ttl", ["60", None, [60], {"s": 60}, -1])
def test_connect_oneway_rejects_a_bad_ttl(client: Client, ttl):
    assert_error(rpc(client, "connect_oneway", [ttl]), INVALID_PARAMS)


# -- interconnect --------------------------------------------------------------


def test_interconnect_with_a_url(client: Client):
    before = connections(client)
    token = result(rpc(client, "interconnect", [PEER_URL, "their-token-for-us", 60]))

    assert isinstance(token, str)
    assert len(token) >= 43
    assert connections(client) == before + 1
    assert result(rpc(client, "close_connection", [token])) == "ok"
    assert connections(client) == before


def test_interconnect_with_host_and_port(client: Client):
    token = result(rpc(client, "interconnect", [["127.0.0.1", 9], "their-token-for-us", 60]))

    assert isinstance(token, str)
    assert result(rpc(client, "close_connection", [token])) == "ok"


def test_interconnect_by_name(client: Client):
    params = {"addr": PEER_URL, "token": "their-token-for-us", "ttl": 60}
    token = result(rpc(client, "interconnect", params))
    assert result(rpc(client, "close_connection", [token])) == "ok"


@pytest.mark.parametrize(
    "addr", [123, None, ["127.0.0.1"], ["127.0.0.1", "port"], ["127.0.0.1", 9, 9], {}]
)
def test_interconnect_rejects_a_bad_addr(client: Client, addr):
    assert_error(rpc(client, "interconnect", [addr, "their-token", 60]), INVALID_PARAMS)


@pytest.mark.parametrize(
    "addr",
    [
        "http://[::1",
        "http://:0/",
        "http://a b/",
        "http://[zz]/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:65536/",
        "http://127.0.0.1:99999/berrymq/rpc/",
        "http://127.0.0.1:08000/",
        ["", 80],
        ["a b", 80],
        ["::1", 80],
    ],
)
def test_interconnect_rejects_an_addr_it_could_not_call_back(client: Client, addr):
    """A URL without a host it can reach is refused, not handed to a link that fails on it."""
    before = connections(client)

    assert_error(rpc(client, "interconnect", [addr, "their-token", 60]), INVALID_PARAMS)
    assert connections(client) == before


@pytest.mark.parametrize("their_token", ["ünïcode", "x" * 10_000], ids=["non-ascii", "too-long"])
def test_interconnect_rejects_a_token_it_could_not_call_back_with(client: Client, their_token):
    """The caller's token goes into our Authorization header when we call back.

    rpc.discover documents it as a string of at most 128 characters.
    """
    before = connections(client)

    assert_error(rpc(client, "interconnect", [PEER_URL, their_token, 60]), INVALID_PARAMS)
    assert connections(client) == before  # no half-made connection left behind


def test_interconnect_rejects_a_token_that_is_not_a_string(client: Client):
    assert_error(rpc(client, "interconnect", [PEER_URL, 42, 60]), INVALID_PARAMS)


# -- connect_via_queue and pulling --------------------------------------------


def test_connect_via_queue_collects_matching_messages(client: Client, connect_queue):
    token = connect_queue("task:*")
    sent = twitter("task:run", 1, "two", flag=True)
    twitter("other:run")

    message = result(rpc(client, "get_nowait", [token]))

    assert set(message) == MESSAGE_KEYS
    assert message["id"] == "task:run"
    assert message["args"] == [1, "two"]
    assert message["kwargs"] == {"flag": True}
    assert message["uid"] == sent.uid
    assert message["origin"] == NODE_NAME
    assert abs(message["timestamp"] - sent.timestamp) < 1e-3
    assert_error(rpc(client, "get_nowait", [token]), TIMEOUT)


def test_connect_via_queue_by_name(client: Client):
    token = result(rpc(client, "connect_via_queue", {"identifier": "task:*", "ttl": 60}))
    twitter("task:run")
    assert result(rpc(client, "get_nowait", {"token": token}))["id"] == "task:run"


def test_queue_connection_keeps_order(client: Client, connect_queue):
    token = connect_queue("task")
    for i in range(5):
        twitter("task:run", i)

    got = [result(rpc(client, "get_nowait", [token]))["args"] for _ in range(5)]

    assert got == [[0], [1], [2], [3], [4]]


def test_queue_connection_drops_the_oldest_beyond_queue_maxsize(client: Client):
    with berrymq_config(QUEUE_MAXSIZE=3):
        token = result(rpc(client, "connect_via_queue", ["task:*", 60]))
        for i in range(5):
            twitter("task:run", i)
        got = [result(rpc(client, "get_nowait", [token]))["args"] for _ in range(3)]
        assert_error(rpc(client, "get_nowait", [token]), TIMEOUT)

    assert got == [[2], [3], [4]]


@pytest.mark.parametrize("identifier", ["bad id", "", "a:b:c", "a@b@c:d", 5, None, ["a:b"]])
def test_connect_via_queue_rejects_a_bad_identifier(client: Client, identifier):
    assert_error(rpc(client, "connect_via_queue", [identifier, 60]), INVALID_PARAMS)


def test_two_queue_connections_each_get_a_copy(client: Client, connect_queue):
    first, second = connect_queue("task:*"), connect_queue("task:*")
    twitter("task:run")

    assert result(rpc(client, "get_nowait", [first]))["id"] == "task:run"
    assert result(rpc(client, "get_nowait", [second]))["id"] == "task:run"


def test_local_messages_never_reach_a_queue_connection(
    client: Client, connect_queue, oneway_token: str
):
    token = connect_queue("*")
    twitter("_cache:flush")
    rpc(client, "send_message", [oneway_token, "_cache:clear"])
    twitter("cache:flush")

    assert result(rpc(client, "get_nowait", [token]))["id"] == "cache:flush"
    assert_error(rpc(client, "get_nowait", [token]), TIMEOUT)


def _refers_to_itself() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def _nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("args", [_refers_to_itself(), _nested(990)], ids=["self", "deep"])
def test_a_message_no_get_could_answer_is_refused_by_the_queue_not_lost_by_the_get(
    client: Client, connect_queue, args: list[Any], caplog
):
    """The get used to take it, fail with -32603 and lose it; the queue now refuses it."""
    token = connect_queue("x:*")
    errors = default_dispatcher.error_count
    twitter("x:first", args)
    twitter("x:second", "after")

    assert result(rpc(client, "get_nowait", [token]))["args"] == ["after"]
    assert default_dispatcher.error_count == errors + 1
    assert "'x:first'" in caplog.text and "cannot be queued for a JSON-RPC client" in caplog.text
    assert_error(rpc(client, "get_nowait", [token]), TIMEOUT)


def test_at_every_depth_a_message_is_either_refused_by_the_queue_or_got_whole(
    client: Client, connect_queue
):
    """The queue checks what get writes, alike: no depth passes one and fails the other."""
    token = connect_queue("x:*")
    for levels in range(245, 260):
        errors = default_dispatcher.error_count
        twitter("x:deep", _nested(levels))
        refused = default_dispatcher.error_count == errors + 1
        answer = rpc(client, "get_nowait", [token])

        if refused:
            assert_error(answer, TIMEOUT)
        else:
            assert result(answer)["args"] == [_nested(levels)], levels


def test_a_deep_answer_is_written_the_same_at_any_stack_depth():
    """The standard encoder's limit shares the Python stack; the answer's must not."""

    def at_depth(frames: int, levels: int) -> bool:
        if frames:
            return at_depth(frames - 1, levels)
        try:
            encode({"result": _nested(levels)})
        except ValueError:
            return False
        return True

    for levels in (200, 252, 253, 300, 600):
        assert at_depth(0, levels) == at_depth(600, levels) == (levels < 253), levels


# -- send_message ------------------------------------------------------------


def test_send_message_reaches_a_follower_and_a_queue(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("order:*")
    queue = Queue("order:created")

    response = rpc(client, "send_message", [oneway_token, "order:created", [42], {"total": "9.90"}])

    assert result(response) == "ok"
    assert [(m.id, m.args, m.kwargs) for m in received] == [
        ("order:created", (42,), {"total": "9.90"})
    ]
    queued = queue.get_nowait()
    assert (queued.args, queued.kwargs) == ((42,), {"total": "9.90"})


def test_send_message_args_and_kwargs_default_to_empty(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("order:*")

    assert result(rpc(client, "send_message", [oneway_token, "order:created"])) == "ok"
    assert [(m.args, m.kwargs) for m in received] == [((), {})]


def test_send_message_keeps_uid_and_origin(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:*")
    uid = new_uid()
    params = {
        "token": oneway_token,
        "identifier": "order:created",
        "args": [],
        "kwargs": {},
        "uid": uid,
        "origin": "site-b-node",
    }

    assert result(rpc(client, "send_message", params)) == "ok"
    assert [(m.uid, m.origin) for m in received] == [(uid, "site-b-node")]


def test_send_message_keeps_json_types(client: Client, oneway_token: str, follow: Follow):
    received = follow("order:*")
    args = [None, True, 0, -1, 1.5, "ünïcödé ✓", [1, [2]], {"nested": {"x": []}}]

    rpc(client, "send_message", [oneway_token, "order:created", args, {"k": [None]}])

    assert received[0].args == tuple(args)
    assert received[0].kwargs == {"k": [None]}


def test_send_message_with_namespace_and_wildcards(
    client: Client, oneway_token: str, follow: Follow
):
    eu, plain = follow("order@eu:*"), follow("order:*")

    rpc(client, "send_message", [oneway_token, "order@eu:created"])
    rpc(client, "send_message", [oneway_token, "*:created"])

    assert [m.id for m in eu] == ["order@eu:created"]
    assert [m.id for m in plain] == ["*:created"]


@pytest.mark.parametrize("identifier", ["bad id", "", "a:b:c", "tab\t:x", 5, None, {}])
def test_send_message_rejects_a_bad_identifier(client: Client, oneway_token: str, identifier):
    err = assert_error(rpc(client, "send_message", [oneway_token, identifier]), INVALID_PARAMS)
    if isinstance(identifier, str) and identifier:
        assert repr(identifier)[1:-1] in err["message"] or identifier in err["message"], err


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(["TOKEN"], id="missing-identifier"),
        pytest.param(["TOKEN", "a:b", "not a list"], id="args-not-array"),
        pytest.param(["TOKEN", "a:b", [], ["not", "an", "object"]], id="kwargs-not-object"),
        pytest.param(["TOKEN", "a:b", [], {}, 42], id="uid-not-string"),
        pytest.param(["TOKEN", "a:b", [], {}, None, 42], id="origin-not-string"),
        pytest.param(["TOKEN", "a:b", [], {}, None, None, "extra"], id="too-many"),
        pytest.param({"token": "TOKEN", "identifier": "a:b", "bogus": 1}, id="unknown-name"),
        pytest.param({"identifier": "a:b"}, id="missing-token"),
        pytest.param([42, "a:b"], id="token-not-string"),
    ],
)
def test_send_message_rejects_bad_params(client: Client, oneway_token: str, follow: Follow, params):
    received = follow("*")
    if isinstance(params, list):
        params = [oneway_token if p == "TOKEN" else p for p in params]
    else:
        params = {k: oneway_token if v == "TOKEN" else v for k, v in params.items()}

    assert_error(rpc(client, "send_message", params), INVALID_PARAMS)
    assert received == []


def test_send_message_with_an_unknown_token(client: Client, follow: Follow):
    received = follow("*")

    err = assert_error(rpc(client, "send_message", ["no-such-token", "a:b"]), INVALID_TOKEN)

    assert err["message"] == "invalid token"
    assert received == []


def test_follower_error_is_an_internal_error_when_raise_errors_is_set(
    client: Client, follow: Follow, caplog: pytest.LogCaptureFixture
):
    def explode(message: Message) -> None:
        raise RuntimeError("follower exploded")

    register_function("boom:*", explode)
    with berrymq_config(RAISE_ERRORS=True):
        token = result(rpc(client, "connect_oneway", [60]))
        response = rpc(client, "send_message", [token, "boom:now"])
        err = assert_error(response, INTERNAL_ERROR)
        assert "follower exploded" not in err["message"]  # details go to the log only
        logged = [r for r in caplog.records if r.exc_info and r.name.startswith("berrymq")]
        assert any("follower exploded" in str(r.exc_info[1]) for r in logged)
        # The site still serves.
        assert result(rpc(client, "send_message", [token, "calm:now"])) == "ok"


def test_follower_error_is_logged_not_returned_by_default(client: Client, oneway_token: str):
    def explode(message: Message) -> None:
        raise RuntimeError("follower exploded")

    register_function("boom:*", explode)

    assert result(rpc(client, "send_message", [oneway_token, "boom:now"])) == "ok"


# -- send_messages -----------------------------------------------------------


def test_send_messages_delivers_each_in_order(client: Client, oneway_token: str, follow: Follow):
    received = follow("job:*")
    messages = [
        {"id": "job:run", "args": [i], "kwargs": {"n": i}, "uid": new_uid(), "origin": "b"}
        for i in range(10)
    ]

    response = rpc(client, "send_messages", [oneway_token, messages])

    assert result(response) == {"accepted": 10, "duplicates": 0}
    assert [(m.args, m.kwargs) for m in received] == [((i,), {"n": i}) for i in range(10)]
    assert [m.uid for m in received] == [m["uid"] for m in messages]


def test_send_messages_optional_members(client: Client, oneway_token: str, follow: Follow):
    received = follow("job:*")
    messages = [{"id": "job:a"}, {"id": "job:b", "args": [1]}, {"id": "job:c", "kwargs": {"x": 1}}]

    assert result(rpc(client, "send_messages", {"token": oneway_token, "messages": messages})) == {
        "accepted": 3,
        "duplicates": 0,
    }
    assert [(m.id, m.args, m.kwargs) for m in received] == [
        ("job:a", (), {}),
        ("job:b", (1,), {}),
        ("job:c", (), {"x": 1}),
    ]


def test_send_messages_with_none(client: Client, oneway_token: str):
    assert result(rpc(client, "send_messages", [oneway_token, []])) == {
        "accepted": 0,
        "duplicates": 0,
    }


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"id": "bad id"}, id="bad-identifier"),
        pytest.param({"args": [1]}, id="missing-id"),
        pytest.param({"id": "job:x", "args": "nope"}, id="args-not-array"),
        pytest.param({"id": "job:x", "kwargs": []}, id="kwargs-not-object"),
        pytest.param({"id": "job:x", "args": False}, id="args-false"),
        pytest.param({"id": "job:x", "kwargs": 0}, id="kwargs-zero"),
        pytest.param({"id": "job:x", "uid": 5}, id="uid-not-string"),
        pytest.param("job:x", id="not-an-object"),
    ],
)
def test_send_messages_validates_all_first(client: Client, oneway_token: str, follow: Follow, bad):
    received = follow("*")
    messages = [{"id": "job:ok"}, bad, {"id": "job:ok"}]

    err = assert_error(rpc(client, "send_messages", [oneway_token, messages]), INVALID_PARAMS)

    assert received == [], "nothing is delivered when one message is bad"
    data = err.get("data")
    names_index = "1" in err["message"] or (isinstance(data, dict) and data.get("index") == 1)
    assert names_index, f"the error should name index 1: {err}"


@pytest.mark.parametrize("messages", ["job:x", {"id": "job:x"}, None, 5])
def test_send_messages_needs_an_array(client: Client, oneway_token: str, messages):
    assert_error(rpc(client, "send_messages", [oneway_token, messages]), INVALID_PARAMS)


def test_send_messages_with_an_unknown_token(client: Client, follow: Follow):
    received = follow("*")
    response = rpc(client, "send_messages", ["no-such-token", [{"id": "job:x"}]])

    assert assert_error(response, INVALID_TOKEN)["message"] == "invalid token"
    assert received == []


# -- dedup by uid --------------------------------------------------------------


def test_send_message_twice_with_one_uid_delivers_once(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("pay:*")
    uid = new_uid()
    params = {"token": oneway_token, "identifier": "pay:charge", "args": [10], "uid": uid}

    assert result(rpc(client, "send_message", params)) == "ok"
    assert result(rpc(client, "send_message", params)) == "ok"

    assert [m.uid for m in received] == [uid]


def test_send_messages_counts_duplicates(client: Client, oneway_token: str, follow: Follow):
    received = follow("pay:*")
    first, second = new_uid(), new_uid()
    rpc(client, "send_message", {"token": oneway_token, "identifier": "pay:x", "uid": first})

    messages = [
        {"id": "pay:x", "uid": first},  # accepted before, by send_message
        {"id": "pay:x", "uid": second},
        {"id": "pay:x", "uid": second},  # repeated within the call
        {"id": "pay:x"},  # no uid: never a duplicate
    ]
    response = rpc(client, "send_messages", [oneway_token, messages])

    assert result(response) == {"accepted": 2, "duplicates": 2}
    assert [m.uid for m in received][:2] == [first, second]
    assert len(received) == 3


def test_a_retried_send_messages_delivers_nothing_twice(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("pay:*")
    messages = [{"id": "pay:x", "uid": new_uid()} for _ in range(5)]

    assert result(rpc(client, "send_messages", [oneway_token, messages]))["accepted"] == 5
    assert result(rpc(client, "send_messages", [oneway_token, messages])) == {
        "accepted": 0,
        "duplicates": 5,
    }
    assert len(received) == 5


@pytest.mark.parametrize("method", ["send_messages", "send_message"])
def test_a_call_that_failed_leaves_its_uids_free_for_the_retry(
    client: Client, oneway_token: str, follow: Follow, method: str
):
    """A call answered with an error delivered nothing for sure: its retry is not a duplicate.

    With ATOMIC_REQUESTS the failed call's writes are rolled back, so had its uids
    been kept, the sender's retry would be dropped and the messages lost.
    """
    received = follow("pay:*")
    failing = [True]

    def fail_once(message: Message) -> None:
        if failing[0]:
            raise RuntimeError("the follower failed")

    register_function("pay:*", fail_once)
    messages = [{"id": "pay:x", "uid": new_uid()} for _ in range(3)]

    def send() -> Any:
        if method == "send_messages":
            return rpc(client, "send_messages", [oneway_token, messages])
        return rpc(client, "send_message", {"token": oneway_token, **_one(messages[1])})

    with berrymq_config(RAISE_ERRORS=True):
        assert error(send())["code"] == INTERNAL_ERROR
        failing[0] = False
        answer = result(send())

    uids = [m["uid"] for m in messages]
    if method == "send_messages":
        assert answer == {"accepted": 3, "duplicates": 0}
        # The first message reached its first follower before the failure: at least once.
        assert [m.uid for m in received] == [uids[0], *uids]
    else:
        assert [m.uid for m in received] == [uids[1], uids[1]]


def _one(message: dict[str, Any]) -> dict[str, Any]:
    return {"identifier": message["id"], "uid": message["uid"]}


def test_dedup_is_across_principals(client: Client, oneway_token: str, follow: Follow):
    received = follow("pay:*")
    uid = new_uid()
    other = result(rpc(client, "connect_oneway", [60], key=KEY_C))

    rpc(client, "send_message", {"token": oneway_token, "identifier": "pay:x", "uid": uid})
    rpc(client, "send_message", {"token": other, "identifier": "pay:x", "uid": uid}, key=KEY_C)

    assert len(received) == 1


def test_uid_is_forgotten_after_dedup_seconds(client: Client, follow: Follow):
    received = follow("pay:*")
    uid = new_uid()
    with berrymq_config(DEDUP_SECONDS=0.2):
        token = result(rpc(client, "connect_oneway", [60]))
        params = {"token": token, "identifier": "pay:x", "uid": uid}
        rpc(client, "send_message", params)

        def send_again() -> int:
            rpc(client, "send_message", params)  # a duplicate (dropped) within the window
            return len(received)

        eventually(send_again, until=lambda count: count == 2)

    assert len(received) == 2


def test_concurrent_retries_deliver_once(follow: Follow, oneway_token: str):
    received = follow("pay:*")
    uid = new_uid()
    params = {"token": oneway_token, "identifier": "pay:x", "uid": uid}
    answers: list[object] = []

    def retry() -> None:
        own = Client()
        for _ in range(5):
            answers.append(result(rpc(own, "send_message", params)))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert answers == ["ok"] * 40
    assert [m.uid for m in received] == [uid]


def test_a_failing_call_in_a_batch_loses_nothing_else(client: Client, follow: Follow):
    received = follow("calm:*")

    def explode(message: Message) -> None:
        raise RuntimeError("follower exploded")

    register_function("boom:*", explode)
    with berrymq_config(RAISE_ERRORS=True):
        token = result(rpc(client, "connect_oneway", [60]))
        batch = [
            call("send_message", [token, "calm:one"], 1),
            call("send_message", [token, "boom:now"], 2),
            call("send_message", [token, "calm:two"], 3),
        ]
        answers = body(post(client, batch))

    assert [a.get("result") for a in answers] == ["ok", None, "ok"]
    assert answers[1]["error"]["code"] == INTERNAL_ERROR
    assert [m.id for m in received] == ["calm:one", "calm:two"]


# -- get -----------------------------------------------------------------------


def test_get_returns_a_waiting_message_at_once(client: Client, connect_queue):
    token = connect_queue("task:*")
    twitter("task:run", 7)

    started = time.monotonic()
    message = result(rpc(client, "get", [token, True, 5]))

    assert message["args"] == [7]
    assert time.monotonic() - started < 0.5


def test_get_times_out_after_its_timeout(client: Client, connect_queue):
    token = connect_queue("task:*")

    started = time.monotonic()
    err = assert_error(rpc(client, "get", [token, True, 0.2]), TIMEOUT)
    elapsed = time.monotonic() - started

    assert err["message"] == "timeout"
    assert 0.15 <= elapsed < 0.9


@pytest.mark.parametrize("timeout", [30, None])
def test_get_waits_at_most_max_poll_seconds(client: Client, timeout):
    with berrymq_config(MAX_POLL_SECONDS=0.3):
        token = result(rpc(client, "connect_via_queue", ["task:*", 60]))
        started = time.monotonic()
        assert_error(rpc(client, "get", [token, True, timeout]), TIMEOUT)
        elapsed = time.monotonic() - started

    assert 0.25 <= elapsed < 1.5


def test_a_batch_of_blocking_gets_shares_one_max_poll_seconds(client: Client):
    """Four gets of 0.4 s each would hold the worker 1.6 s; the request's budget is 0.4 s."""
    with berrymq_config(MAX_POLL_SECONDS=0.4):
        token = result(rpc(client, "connect_via_queue", ["task:*", 60]))
        batch = [call("get", [token, True, 0.4], id=i) for i in range(4)]
        started = time.monotonic()
        answers = body(post(client, batch))
        elapsed = time.monotonic() - started

    assert [a["error"]["code"] for a in answers] == [TIMEOUT] * 4
    assert elapsed < 1.2


def test_get_by_name_defaults_to_a_blocking_long_poll(client: Client):
    with berrymq_config(MAX_POLL_SECONDS=0.3):
        token = result(rpc(client, "connect_via_queue", ["task:*", 60]))
        started = time.monotonic()
        assert_error(rpc(client, "get", {"token": token}), TIMEOUT)
        elapsed = time.monotonic() - started

    assert 0.25 <= elapsed < 1.5


def test_get_wakes_when_a_message_arrives(client: Client):
    with berrymq_config(MAX_POLL_SECONDS=5.0):
        token = result(rpc(client, "connect_via_queue", ["task:*", 60]))
        timer = threading.Timer(0.3, twitter, ("task:run", "late"))
        timer.start()
        try:
            started = time.monotonic()
            message = result(rpc(client, "get", [token, True, 5]))
            elapsed = time.monotonic() - started
        finally:
            timer.cancel()

    assert message["args"] == ["late"]
    assert 0.2 <= elapsed < 3


def test_get_without_blocking_answers_at_once(client: Client, connect_queue):
    token = connect_queue("task:*")

    started = time.monotonic()
    assert_error(rpc(client, "get", [token, False, 5]), TIMEOUT)

    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(["TOKEN", "yes", 1], id="block-not-bool"),
        pytest.param(["TOKEN", True, "1"], id="timeout-not-number"),
        pytest.param(["TOKEN", True, [1]], id="timeout-array"),
        pytest.param(["TOKEN", True, 1, "extra"], id="too-many"),
        pytest.param([], id="missing-token"),
    ],
)
def test_get_rejects_bad_params(client: Client, connect_queue, params):
    token = connect_queue("task:*")
    params = [token if p == "TOKEN" else p for p in params]

    assert_error(rpc(client, "get", params), INVALID_PARAMS)


def test_get_with_a_negative_timeout_does_not_block(client: Client, connect_queue):
    token = connect_queue("task:*")

    started = time.monotonic()
    response = rpc(client, "get", [token, True, -5])

    err = assert_error(response, INVALID_PARAMS)
    assert "-5" in err["message"], err
    assert time.monotonic() - started < 0.9


def test_get_with_an_unknown_token(client: Client):
    err = assert_error(rpc(client, "get", ["no-such-token", True, 0.1]), INVALID_TOKEN)
    assert err["message"] == "invalid token"


def test_get_of_a_value_json_cannot_hold_is_no_500(client: Client, connect_queue):
    token = connect_queue("task:*")
    twitter("task:run", Decimal("9.90"), when=object())
    twitter("task:run", "fine")

    first = rpc(client, "get_nowait", [token])
    assert first.status_code == 200, first.content[:300]
    body(first)
    # Whatever became of the first message, the next one comes through.
    assert result(rpc(client, "get_nowait", [token]))["args"] == ["fine"]


def test_get_of_floats_json_cannot_hold_is_strict_json(client: Client, connect_queue):
    """Local code may twitter inf, nan and big integers; the wire must still be JSON."""
    token = connect_queue("task:*")
    twitter("task:run", float("inf"), float("nan"))
    twitter("task:run", float("-inf"), 10**30)

    for _ in range(2):
        response = rpc(client, "get_nowait", [token])
        assert response.status_code == 200, response.content[:300]
        body(response)  # strict: NaN and Infinity are not JSON


# -- get_nowait ----------------------------------------------------------------


def test_get_nowait_on_an_empty_queue_is_a_timeout(client: Client, connect_queue):
    token = connect_queue("task:*")

    err = assert_error(rpc(client, "get_nowait", [token]), TIMEOUT)

    assert err["message"] == "timeout"


def test_get_nowait_with_an_unknown_token(client: Client):
    err = assert_error(rpc(client, "get_nowait", ["no-such-token"]), INVALID_TOKEN)
    assert err["message"] == "invalid token"


def test_get_nowait_rejects_extra_params(client: Client, connect_queue):
    token = connect_queue("task:*")
    assert_error(rpc(client, "get_nowait", [token, True]), INVALID_PARAMS)


# -- close_connection ----------------------------------------------------------


def test_close_connection_makes_the_token_invalid(client: Client, connect_queue):
    token = connect_queue("task:*")
    before = connections(client)

    assert result(rpc(client, "close_connection", [token])) == "ok"

    assert connections(client) == before - 1
    assert_error(rpc(client, "get_nowait", [token]), INVALID_TOKEN)
    assert_error(rpc(client, "close_connection", [token]), INVALID_TOKEN)
    twitter("task:run")  # the closed queue no longer collects, and nothing breaks


def test_close_connection_of_a_oneway_token(client: Client, oneway_token: str):
    assert result(rpc(client, "close_connection", {"token": oneway_token})) == "ok"
    assert_error(rpc(client, "send_message", [oneway_token, "a:b"]), INVALID_TOKEN)


# -- token expiry and ownership --------------------------------------------------


def test_token_expires_after_its_ttl(client: Client, follow: Follow):
    received = follow("*")
    oneway = result(rpc(client, "connect_oneway", [0.2]))
    queue = result(rpc(client, "connect_via_queue", ["task:*", 0.2]))

    eventually(lambda: connections(client), until=lambda live: live == 0)  # status touches none

    assert_error(rpc(client, "send_message", [oneway, "task:run"]), INVALID_TOKEN)
    assert_error(rpc(client, "get_nowait", [queue]), INVALID_TOKEN)
    assert received == []


def test_expired_connections_are_not_counted(client: Client):
    result(rpc(client, "connect_via_queue", ["task:*", 0.2]))
    before = connections(client)

    eventually(lambda: connections(client), until=lambda live: live == before - 1)

    assert connections(client) == before - 1


def test_activity_keeps_a_token_alive(client: Client):
    token = result(rpc(client, "connect_via_queue", ["task:*", 0.6]))

    for _ in range(4):  # 1.2 s in all, twice the ttl
        time.sleep(0.3)
        assert_error(rpc(client, "get_nowait", [token]), TIMEOUT)


def test_another_principal_cannot_use_a_token(client: Client, connect_queue, follow: Follow):
    received = follow("*")
    token = connect_queue("task:*")  # site-b's
    twitter("task:run")

    for method, params in [
        ("send_message", [token, "task:other"]),
        ("send_messages", [token, [{"id": "task:other"}]]),
        ("get_nowait", [token]),
        ("get", [token, False, 0]),
        ("talk", [token, "task:x", "task:y"]),
        ("close_connection", [token]),
    ]:
        err = assert_error(rpc(client, method, params, key=KEY_C), INVALID_TOKEN)
        assert err["message"] == "invalid token", method

    # site-b's token is untouched: still open, its message still queued.
    assert [m.id for m in received] == ["task:run"]
    assert result(rpc(client, "get_nowait", [token]))["id"] == "task:run"


# -- talk ----------------------------------------------------------------------


def test_talk_returns_the_followers_results(client: Client, oneway_token: str):
    register_function("price:quote", lambda m: {"sku": m.args[0], "price": "9.90"})
    register_function("price:*", lambda m: m.kwargs["currency"])
    answers = Queue("price:quoted")

    response = rpc(
        client,
        "talk",
        [oneway_token, "price:quote", "price:quoted", ["SKU-1"], {"currency": "EUR"}],
    )

    assert result(response) == [{"sku": "SKU-1", "price": "9.90"}, "EUR"]
    replies = [answers.get_nowait(), answers.get_nowait()]
    assert [r.args for r in replies] == [({"sku": "SKU-1", "price": "9.90"},), ("EUR",)]
    assert replies[0].kwargs["in_reply_to"] == replies[1].kwargs["in_reply_to"]


def test_talk_by_name_with_defaults(client: Client, oneway_token: str):
    register_function("ping:*", lambda m: "pong")
    params = {"token": oneway_token, "identifier": "ping:now", "callback_identifier": "ping:back"}

    assert result(rpc(client, "talk", params)) == ["pong"]


def test_talk_without_followers_is_an_empty_list(client: Client, oneway_token: str):
    assert result(rpc(client, "talk", [oneway_token, "nobody:home", "nobody:back"])) == []


def test_talk_with_a_result_json_cannot_hold_is_no_500(client: Client, oneway_token: str):
    register_function("odd:*", lambda m: object())

    response = rpc(client, "talk", [oneway_token, "odd:ask", "odd:back"])

    assert response.status_code == 200, response.content[:300]
    body(response)


def circular(message: Message) -> list:
    """A follower whose result refers to itself: no JSON can hold it."""
    loop: list = []
    loop.append(loop)
    return loop


def too_deep(message: Message) -> list:
    value: list = []
    for _ in range(5_000):
        value = [value]
    return value


@pytest.mark.parametrize("follower", [circular, too_deep])
@pytest.mark.parametrize("throttles", [[], ["tests.rpc.test_auth.TwoPerMinute"]])
def test_talk_with_a_result_no_json_can_hold_is_its_error(
    client: Client, oneway_token: str, follower, throttles
):
    """With the default classes' short cut and through DRF's dispatch alike."""
    register_function("odd:ask", follower)
    with berrymq_config(THROTTLE_CLASSES=throttles):
        response = rpc(client, "talk", [oneway_token, "odd:ask", "odd:back"])

    assert error(response)["code"] == INTERNAL_ERROR


def test_a_result_no_json_can_hold_fails_only_its_call_in_a_batch(
    client: Client, oneway_token: str
):
    register_function("odd:ask", circular)

    answers = body(
        post(
            client,
            [
                call("talk", [oneway_token, "odd:ask", "odd:back"], 1),
                call("send_message", [oneway_token, "odd:other"], 2),
            ],
        )
    )

    assert answers[0]["error"]["code"] == INTERNAL_ERROR, answers
    assert answers[1] == {"jsonrpc": "2.0", "result": "ok", "id": 2}


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(["TOKEN", "bad id", "a:back"], id="bad-identifier"),
        pytest.param(["TOKEN", "a:ask", "bad id"], id="bad-callback"),
        pytest.param(["TOKEN", "a:ask"], id="missing-callback"),
        pytest.param(["TOKEN", "a:ask", "a:back", "args"], id="args-not-array"),
    ],
)
def test_talk_rejects_bad_params(client: Client, oneway_token: str, follow: Follow, params):
    received = follow("*")
    params = [oneway_token if p == "TOKEN" else p for p in params]

    assert_error(rpc(client, "talk", params), INVALID_PARAMS)
    assert received == []


# -- status and rpc.discover -----------------------------------------------------


def test_status_describes_the_node(client: Client):
    status = result(rpc(client, "status", []))

    assert status["node"] == NODE_NAME
    assert status["protocol"] == "1.0"
    assert isinstance(status["backend"], str)
    assert "Memory" in status["backend"]
    assert type(status["connections"]) is int


def test_status_reports_the_limits_clients_size_their_calls_by(client: Client):
    with berrymq_config(MAX_BATCH=7, MAX_MESSAGES_PER_CALL=9, MAX_POLL_SECONDS=3.5):
        limits = result(rpc(client, "status", []))["limits"]

    assert limits["MAX_BATCH"] == 7
    assert limits["MAX_MESSAGES_PER_CALL"] == 9
    assert limits["MAX_POLL_SECONDS"] == 3.5
    assert set(limits) == {
        "MAX_BODY_BYTES", "MAX_BATCH", "MAX_DEPTH", "MAX_IDENTIFIER_LENGTH",
        "MAX_MESSAGES_PER_CALL", "MAX_POLL_SECONDS", "MAX_INTERCONNECTS", "QUEUE_MAXSIZE",
        "DEDUP_SECONDS",
    }  # fmt: skip


def test_a_bad_identifier_names_its_param(client: Client, oneway_token: str):
    # talk takes two identifiers: the error says which one is wrong.
    params = [oneway_token, "ask:x", "a:b:c"]
    assert "'callback_identifier'" in error(rpc(client, "talk", params))["message"]
    params = [oneway_token, "_local:x", "ask:y"]
    assert "'identifier'" in error(rpc(client, "talk", params))["message"]
    batch = [{"id": "ok:x"}, {"id": "a b:c"}]
    refused = error(rpc(client, "send_messages", [oneway_token, batch]))
    assert "'messages[1].id'" in refused["message"]
    assert refused["data"] == {"index": 1}


def test_status_names_the_follower_groups_of_this_process(client: Client):
    register_function("order:*", lambda message: None, group="stock")
    register_function("*:created", lambda message: None, group="mail")
    assert result(rpc(client, "status", []))["groups"] == {
        "stock": ["order:*"],
        "mail": ["*:created"],
    }


def test_status_without_params(client: Client):
    assert result(rpc(client, "status"))["node"] == NODE_NAME


def test_status_rejects_params(client: Client):
    assert_error(rpc(client, "status", [1]), INVALID_PARAMS)


def test_status_counts_connections(client: Client, connect_queue):
    before = connections(client)
    token = connect_queue("task:*")
    result(rpc(client, "connect_oneway", [60]))

    assert connections(client) == before + 2
    rpc(client, "close_connection", [token])
    assert connections(client) == before + 1


def test_rpc_discover_is_an_openrpc_document_of_every_method(client: Client):
    document = result(rpc(client, "rpc.discover", []))

    assert document["openrpc"] == "1.2.6"
    assert isinstance(document["info"]["title"], str)
    assert isinstance(document["info"]["version"], str)
    by_name = {method["name"]: method for method in document["methods"]}
    assert set(METHODS) - {"rpc.discover"} <= set(by_name)
    for method in by_name.values():
        assert isinstance(method["params"], list)
        for param in method["params"]:
            assert isinstance(param["name"], str)
            assert isinstance(param["schema"], dict)
        assert "result" in method
    assert [p["name"] for p in by_name["send_message"]["params"]] == [
        "token",
        "identifier",
        "args",
        "kwargs",
        "uid",
        "origin",
    ]


def test_methods_by_name_match_the_discovered_params(client: Client, oneway_token: str):
    """What rpc.discover tells other languages must be what the server accepts."""
    document = result(rpc(client, "rpc.discover", []))
    by_name = {method["name"]: method for method in document["methods"]}
    token = result(rpc(client, "connect_via_queue", ["probe:*", 60]))
    values = {
        "token": token,
        "ttl": 60,
        "identifier": "probe:x",
        "callback_identifier": "probe:back",
        "addr": PEER_URL,
        "args": [],
        "kwargs": {},
        "messages": [],
        "block": False,
        "timeout": 0,
    }
    for name in ("connect_oneway", "connect_via_queue", "send_message", "send_messages", "get"):
        required = [p["name"] for p in by_name[name]["params"] if p.get("required")]
        params = {p: values[p] for p in required}
        # get finds the message send_message put in the queue just before.
        assert result(rpc(client, name, params)) is not None, (name, params)
