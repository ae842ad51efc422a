"""RedisBackend against a real Redis, several backends in one test process.

Each Dispatcher made by ``make_dispatcher`` has a RedisBackend of its own
(its own token, threads and connections), so two of them behave as two
processes sharing one Redis and prefix. Real processes are in
test_redis_multiprocess.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from decimal import Decimal
from queue import Empty
from typing import Any

import orjson
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from berrymq_django import default_dispatcher, twitter
from berrymq_django.backends.redis import DEFAULT_OPTIONS, RedisBackend, RedisUnavailable
from berrymq_django.core.exceptions import ImproperlyConfiguredBackend
from berrymq_django.core.message import Message
from berrymq_django.core.queue import Queue
from berrymq_django.rpc.connections import Connection, new_token
from tests.support import eventually

REDIS_BACKEND = "berrymq_django.backends.redis.RedisBackend"


class Recorder:
    """A follower that keeps what it receives (thread-safe)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    @property
    def args(self) -> list[Any]:
        return [m.args[0] if m.args else None for m in self.messages]

    def wait_for(self, count: int, timeout: float = 5.0, settle: float = 0.1) -> list[Any]:
        """Wait for count messages, then a little more for any extra; return their first args."""
        eventually(lambda: len(self.messages), until=lambda n: n >= count, timeout=timeout)
        time.sleep(settle)  # nothing announces that no more will come: watch a while
        return self.args


def drain(queue: Any, timeout: float = 0.0) -> list[Any]:
    taken = []
    while True:
        try:
            message = queue.get(timeout=timeout) if timeout else queue.get_nowait()
        except Empty:
            return taken
        taken.append(message.args[0])


# -- options -------------------------------------------------------------------------


def test_unknown_option_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'URLS'") as info:
        RedisBackend(URLS="redis://127.0.0.1:6379/0")
    assert "PREFIX" in str(info.value)  # and it lists the valid ones


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("URL", "http://127.0.0.1:6379/0"),
        ("URL", 6379),
        ("PREFIX", ""),
        ("PREFIX", "has space"),
        ("BUFFER_SIZE", 0),
        ("BUFFER_SIZE", "10"),
        ("BATCH_SIZE", 10_000),
        ("SOCKET_TIMEOUT", -1),
        ("SHARED_TTL", True),
        ("SHARED_LEASE", 0.1),
    ],
)
def test_bad_option_value_is_improperly_configured_naming_it(key, value):
    with pytest.raises(ImproperlyConfiguredBackend, match=repr(key)):
        RedisBackend(**{key: value})


def test_building_a_backend_connects_to_nothing():
    backend = RedisBackend(URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert backend.status()["connected"] is False
        assert backend.options == {"URL": "redis://127.0.0.1:1/0"}
        assert set(DEFAULT_OPTIONS) >= {"URL", "PREFIX", "BUFFER_SIZE", "SOCKET_TIMEOUT"}
    finally:
        backend.close()


def test_status_hides_the_password():
    backend = RedisBackend(URL="redis://user:secret@127.0.0.1:1/0")
    try:
        assert "secret" not in backend.status()["url"]
        assert "secret" not in repr(backend)
    finally:
        backend.close()


# -- messages ------------------------------------------------------------------------


def test_a_message_reaches_followers_in_every_process_exactly_once(make_dispatcher):
    a, b, c = make_dispatcher(), make_dispatcher(), make_dispatcher()
    got = {name: Recorder() for name in "abc"}
    for name, dispatcher in zip("abc", (a, b, c), strict=True):
        dispatcher.register_function("order:*", got[name])

    for i in range(300):
        a.twitter("order:created", i)

    expected = list(range(300))
    assert got["b"].wait_for(300) == expected
    assert got["c"].wait_for(300) == expected
    assert got["a"].args == expected  # delivered once, locally; its echo is skipped


def test_messages_keep_args_kwargs_uid_origin_and_timestamp(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    a.configure(node_name="node-a")
    got = Recorder()
    b.register_function("order:created", got)

    sent = a.twitter("order:created", 1, "two", [3], {"four": 4}, total="9.90", tags=None)

    got.wait_for(1)
    (message,) = got.messages
    assert message.args == (1, "two", [3], {"four": 4})
    assert message.kwargs == {"total": "9.90", "tags": None}
    assert (message.uid, message.origin, message.timestamp) == (sent.uid, "node-a", sent.timestamp)


def test_json_foreign_args_arrive_as_strings_or_lists(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    got = Recorder()
    b.register_function("calc:*", got)

    a.twitter("calc:result", Decimal("9.90"), {1, 2}, ValueError("bad"), when=(1, 2))

    got.wait_for(1)
    (message,) = got.messages
    assert message.args[0] == "9.90"
    assert sorted(message.args[1]) == [1, 2]
    assert message.args[2] == "ValueError: bad"
    assert message.kwargs == {"when": [1, 2]}


def test_unencodable_message_stays_local_and_is_logged(make_dispatcher, caplog):
    a, b = make_dispatcher(), make_dispatcher()
    local, remote = Recorder(), Recorder()
    a.register_function("obj:*", local)
    b.register_function("obj:*", remote)

    with caplog.at_level(logging.WARNING, logger="berrymq"):
        a.twitter("obj:made", object())
        a.twitter("obj:made", "fine")
        assert remote.wait_for(1) == ["fine"]

    assert len(local.messages) == 2
    assert a.backend.status()["unencodable"] == 1
    assert "'obj:made'" in caplog.text and "JSON" in caplog.text


def test_local_messages_never_leave_the_process(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    got = Recorder()
    b.register_function("*:*", got)

    a.twitter("_cache:flush", "local")
    a.twitter("cache:flush", "shared")

    assert got.wait_for(1, settle=0.2) == ["shared"]


def test_namespaces_and_wildcards_match_across_processes(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    plain, eu, any_created = Recorder(), Recorder(), Recorder()
    b.register_function("order:*", plain)
    b.register_function("order@eu:*", eu)
    b.register_function("*:created", any_created)

    a.twitter("order:created", "plain")
    a.twitter("order@eu:created", "eu")
    a.twitter("user:created", "user")

    assert any_created.wait_for(2) == ["plain", "user"]
    assert plain.args == ["plain"]
    assert eu.args == ["eu"]


def test_standalone_queues_in_other_processes_get_a_copy(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    first = Queue("task:*", dispatcher=b)
    second = Queue("task:*", dispatcher=b)

    for i in range(5):
        a.twitter("task:run", i)

    eventually(lambda: (first.qsize(), second.qsize()), until=lambda sizes: sizes == (5, 5))
    assert drain(first) == drain(second) == [0, 1, 2, 3, 4]


async def test_atwitter_publishes_too(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    got = Recorder()
    b.register_function("ping:*", got)

    await a.atwitter("ping:async", "hello")

    assert await asyncio.to_thread(got.wait_for, 1) == ["hello"]


def test_a_follower_raising_in_another_process_does_not_stop_receiving(make_dispatcher, caplog):
    a, b = make_dispatcher(), make_dispatcher()  # b raises follower errors (raise_errors=True)
    got = Recorder()

    def explode(message: Message) -> None:
        if message.args[0] == 0:
            raise RuntimeError("boom")

    b.register_function("job:*", explode)
    b.register_function("job:*", got)

    with caplog.at_level(logging.ERROR, logger="berrymq"):
        a.twitter("job:run", 0)
        a.twitter("job:run", 1)
        # The failure is contained: the follower after the one that raised still runs,
        # and raise_errors does not reach into the receiving thread.
        assert got.wait_for(2) == [0, 1]
    assert "boom" in caplog.text
    assert b.error_count == 1


# -- talk ----------------------------------------------------------------------------


def test_talk_replies_reach_callback_followers_in_every_process(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    a.register_function("price:ask", lambda m: m.args[0] * 2)
    replies_a, replies_b, asked_b = Recorder(), Recorder(), Recorder()
    a.register_function("price:quoted", replies_a)
    b.register_function("price:quoted", replies_b)
    b.register_function("price:ask", asked_b)

    assert a.talk("price:ask", "price:quoted", 21) == [42]

    # b's follower answered too (it returned None): its reply goes to both processes.
    assert sorted(replies_b.wait_for(2), key=repr) == [42, None]
    assert sorted(replies_a.wait_for(2), key=repr) == [42, None]
    (request,) = asked_b.messages  # the request itself reached b's follower
    assert all(m.kwargs == {"in_reply_to": request.uid} for m in replies_b.messages)


def test_a_remote_followers_result_reaches_the_caller_by_message(make_dispatcher):
    caller, responder = make_dispatcher(), make_dispatcher()
    responder.register_function("price:ask", lambda m: m.args[0] * 2)
    replies = Recorder()
    caller.register_function("price:quoted", replies)

    # talk() returns the results of followers in the caller's process only (none here);
    # the remote follower's result arrives as a reply message.
    request_results = caller.talk("price:ask", "price:quoted", 21)

    assert request_results == []
    assert replies.wait_for(1) == [42]
    assert replies.messages[0].kwargs["in_reply_to"]


# -- shared queues -------------------------------------------------------------------


def test_shared_queue_across_processes_takes_each_message_once(make_dispatcher, raw, prefix):
    a, b, producer = make_dispatcher(), make_dispatcher(), make_dispatcher()
    qa = Queue("task:*", shared=True, dispatcher=a)
    qb = Queue("task:*", shared=True, dispatcher=b)

    for i in range(200):
        (producer if i % 2 else a).twitter("task:run", i)
    assert producer.backend.flush() and a.backend.flush()

    assert raw.llen(f"{prefix}:q:s:task:*") == 200  # pushed once, not once per process
    taken: dict[Queue, list[Any]] = {qa: [], qb: []}
    for i in range(200):  # take turns
        queue = qa if i % 3 else qb
        taken[queue].append(queue.get_nowait().args[0])
    assert sorted(taken[qa] + taken[qb]) == list(range(200))
    assert qa.qsize() == qb.qsize() == 0


def test_shared_queue_receives_from_a_process_without_one(make_dispatcher):
    consumer, producer = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:run", shared=True, dispatcher=consumer)

    producer.twitter("task:run", "x")
    producer.twitter("task:other", "not for it")

    assert tasks.get(timeout=5).args == ("x",)
    with pytest.raises(Empty):
        tasks.get(timeout=0.2)


def test_two_shared_patterns_each_get_the_message_once(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    by_name = Queue("task:*", shared=True, dispatcher=a)
    by_action = Queue("*:run", shared=True, dispatcher=b)

    a.twitter("task:run", 1)
    b.twitter("task:run", 2)

    eventually(lambda: (by_name.qsize(), by_action.qsize()), until=lambda sizes: sizes == (2, 2))
    assert sorted(drain(by_name)) == sorted(drain(by_action)) == [1, 2]


def test_shared_queue_get_waits_for_a_message_from_elsewhere(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, dispatcher=a)
    threading.Timer(0.2, b.twitter, args=("task:late", "late")).start()

    started = time.monotonic()
    assert tasks.get(timeout=5).args == ("late",)
    assert time.monotonic() - started < 2


def test_shared_queue_get_timeout_is_kept(make_dispatcher):
    tasks = Queue("task:*", shared=True, dispatcher=make_dispatcher())
    for timeout in (0.05, 0.3, 0.5):
        started = time.monotonic()
        with pytest.raises(Empty):
            tasks.get(timeout=timeout)
        assert timeout <= time.monotonic() - started < timeout + 0.1


def test_shared_queue_maxsize_drops_the_oldest(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, maxsize=3, dispatcher=a)

    for i in range(5):
        b.twitter("task:run", i)
    assert b.backend.flush()

    assert tasks.full() and tasks.qsize() == 3
    assert tasks.dropped == 2
    assert drain(tasks) == [2, 3, 4]


def test_shared_queue_keeps_local_messages_in_its_process(make_dispatcher, raw, prefix):
    a = make_dispatcher()
    everything = Queue("*:*", shared=True, dispatcher=a)

    a.twitter("_cache:flush", "local")
    a.twitter("cache:flush", "shared")
    assert a.backend.flush()

    assert raw.llen(f"{prefix}:q:s:*:*") == 1  # only the non-local one went to Redis
    assert drain(everything) == ["local", "shared"]


def test_local_shared_queue_stays_in_memory(make_dispatcher, raw, prefix):
    a = make_dispatcher()
    queue = Queue("_jobs:*", shared=True, dispatcher=a)
    a.twitter("_jobs:run", 1)
    assert queue.get_nowait().args == (1,)
    assert raw.zcard(f"{prefix}:routes") == 0


def test_closed_shared_queue_keeps_collecting_for_the_consumers_to_come(
    make_dispatcher, raw, prefix
):
    a, b = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, dispatcher=a)
    assert raw.zcard(f"{prefix}:routes") == 1

    tasks.close()

    assert raw.zcard(f"{prefix}:routes") == 1  # the route stays for its lease
    b.twitter("task:run", 1)
    assert b.backend.flush()
    assert raw.llen(f"{prefix}:q:s:task:*") == 1
    started = time.monotonic()
    with pytest.raises(Empty):
        tasks.get(timeout=1)  # closed: answers at once, and leaves the message in Redis
    assert time.monotonic() - started < 0.5
    assert Queue("task:*", shared=True, dispatcher=a).get(timeout=5).args == (1,)


def test_shared_queue_in_one_process_survives_another_closing(make_dispatcher, raw, prefix):
    a, b, producer = make_dispatcher(), make_dispatcher(), make_dispatcher()
    stays = Queue("task:*", shared=True, dispatcher=a)
    leaves = Queue("task:*", shared=True, dispatcher=b)
    leaves.close()

    producer.twitter("task:run", 1)

    assert stays.get(timeout=5).args == (1,)


def live_routes(raw: Any, prefix: str) -> list[bytes]:
    return raw.zrangebyscore(f"{prefix}:routes", time.time(), "+inf")


def test_a_closed_shared_queue_route_lapses_after_the_lease(make_dispatcher, raw, prefix):
    a, producer = make_dispatcher(SHARED_LEASE=0.6), make_dispatcher()
    Queue("task:*", shared=True, dispatcher=a).close()
    Queue("job:*", shared=True, dispatcher=a)  # not kept: collected at once
    a.twitter("any:thing")  # the dispatcher sweeps the dead subscription, freeing the store
    assert len(live_routes(raw, prefix)) == 2

    eventually(lambda: not live_routes(raw, prefix), timeout=3)
    producer.twitter("task:run", 1)
    producer.twitter("job:run", 1)
    assert producer.backend.flush()

    assert raw.llen(f"{prefix}:q:s:task:*") == raw.llen(f"{prefix}:q:s:job:*") == 0
    eventually(lambda: raw.zcard(f"{prefix}:routes") == 0, timeout=3)  # swept


def test_closing_the_backend_leaves_its_routes_for_their_lease(make_dispatcher, raw, prefix):
    a, producer = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, dispatcher=a)

    a.backend.close()  # as at a graceful exit

    assert len(live_routes(raw, prefix)) == 1
    producer.twitter("task:run", 1)
    assert producer.backend.flush()
    assert raw.llen(f"{prefix}:q:s:task:*") == 1
    tasks.close()


def test_delete_withdraws_the_route_and_the_last_one_drops_the_list(make_dispatcher, raw, prefix):
    a, b, producer = make_dispatcher(), make_dispatcher(), make_dispatcher()
    here = Queue("task:*", shared=True, dispatcher=a)
    there = Queue("task:*", shared=True, dispatcher=b)
    producer.twitter("task:run", 1)
    assert producer.backend.flush()

    here.delete()

    assert here.closed and raw.zcard(f"{prefix}:routes") == 1  # b still consumes
    assert raw.llen(f"{prefix}:q:s:task:*") == 1

    there.delete()

    assert there.closed and raw.zcard(f"{prefix}:routes") == 0
    assert raw.exists(f"{prefix}:q:s:task:*") == 0
    producer.twitter("task:run", 2)
    assert producer.backend.flush()
    assert raw.exists(f"{prefix}:q:s:task:*") == 0


async def test_shared_queue_aget(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, dispatcher=a)
    asyncio.get_running_loop().call_later(0.1, b.twitter, "task:run", "async")

    message = await tasks.aget(timeout=5)

    assert message.args == ("async",)
    with pytest.raises(Empty):
        await tasks.aget(timeout=0.2)


async def test_cancelled_aget_loses_no_message(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, dispatcher=a)
    waiter = asyncio.ensure_future(tasks.aget(timeout=5))
    await asyncio.sleep(0.05)
    waiter.cancel()
    b.twitter("task:run", "kept")  # may be popped for the cancelled waiter: it is given back
    await asyncio.to_thread(b.backend.flush)

    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (await tasks.aget(timeout=5)).args == ("kept",)


# -- JSON-RPC state ------------------------------------------------------------------


def queue_connection(identifier: str = "order:*", ttl: float = 60.0, maxsize: int = 0):
    return Connection(
        token=new_token(),
        principal="alice",
        style="queue",
        ttl=ttl,
        identifier=identifier,
        maxsize=maxsize,
    )


def test_accept_uid_once_across_processes(make_dispatcher):
    a, b = make_dispatcher().backend.connection_state, make_dispatcher().backend.connection_state
    assert a.accept_uid("uid-1", 60) is True
    assert b.accept_uid("uid-1", 60) is False
    assert b.accept_uid("uid-2", 60) is True
    assert a.accept_uid("x" * 1000, 60) is True  # long uids are hashed into the key
    assert b.accept_uid("x" * 1000, 60) is False


def test_accept_uids_answers_a_batch_across_processes(make_dispatcher):
    a, b = make_dispatcher().backend.connection_state, make_dispatcher().backend.connection_state
    assert a.accept_uids(["u1", "u2", "u1"], 60) == {"u1": True, "u2": True}
    assert b.accept_uids(["u2", "u3"], 60) == {"u2": False, "u3": True}
    assert b.accept_uids([], 60) == {}


def test_forgotten_uids_are_accepted_again_across_processes(make_dispatcher):
    """A call that failed after accepting its uids forgets them: the retry is no duplicate."""
    a, b = make_dispatcher().backend.connection_state, make_dispatcher().backend.connection_state
    assert a.accept_uids(["u1", "u2", "x" * 1000], 60) == dict.fromkeys(
        ["u1", "u2", "x" * 1000], True
    )
    a.forget_uids(["u1", "x" * 1000])
    a.forget_uids([])
    assert b.accept_uids(["u1", "u2", "x" * 1000], 60) == {
        "u1": True,
        "u2": False,
        "x" * 1000: True,
    }


def test_accepted_uid_is_forgotten_after_its_window(make_dispatcher, raw, prefix):
    a = make_dispatcher()
    assert a.backend.connection_state.accept_uid("uid-1", 0.2)
    assert 0 < raw.pttl(f"{prefix}:uid:uid-1") <= 200
    eventually(lambda: a.backend.connection_state.accept_uid("uid-1", 0.2), timeout=5)


def test_connection_made_in_one_process_is_served_by_another(make_dispatcher, raw, prefix):
    a, b = make_dispatcher(), make_dispatcher()
    oneway = Connection(token=new_token(), principal="alice", style="oneway", ttl=60)
    a.backend.connection_state.open_connection(oneway)

    found = b.backend.connection_state.get_connection(oneway.token)

    assert found is not None
    assert (found.token, found.principal, found.style, found.ttl) == (
        oneway.token,
        "alice",
        "oneway",
        60,
    )
    assert found.expires_at > time.time() + 59
    assert 0 < raw.pttl(f"{prefix}:conn:{oneway.token}") <= 60_000
    assert [c.token for c in b.backend.connection_state.connections()] == [oneway.token]
    assert b.backend.connection_state.close_connection(oneway.token) is True
    assert a.backend.connection_state.get_connection(oneway.token) is None
    assert a.backend.connection_state.close_connection(oneway.token) is False
    assert a.backend.connection_state.connections() == []


def test_connection_expires_after_ttl_of_inactivity(make_dispatcher):
    a = make_dispatcher()
    # Each pause is 0.6 of the ttl: a busy machine's lag up to 0.4 s leaves it alive.
    connection = queue_connection(ttl=1.0)
    a.backend.connection_state.open_connection(connection)
    time.sleep(0.6)
    assert a.backend.connection_state.get_connection(connection.token) is not None  # extends it
    time.sleep(0.6)
    state = a.backend.connection_state
    assert state.get_connection(connection.token) is not None
    eventually(state.connections, until=lambda listed: listed == [], timeout=5)  # no touch
    assert state.get_connection(connection.token) is None
    assert state.connections() == []


def test_connection_queue_gets_every_matching_message_from_any_process(make_dispatcher):
    a, b, c = make_dispatcher(), make_dispatcher(), make_dispatcher()
    connection = queue_connection("order:*")
    a.backend.connection_state.open_connection(connection)

    a.twitter("order:created", 1)
    b.twitter("order:paid", 2)
    c.twitter("user:created", "not matching")
    c.twitter("_order:secret", "local")
    for dispatcher in (a, b, c):
        assert dispatcher.backend.flush()

    state = c.backend.connection_state
    served = state.connection_queue(state.get_connection(connection.token))
    assert served.qsize() == 2
    assert sorted([served.get(timeout=1).args[0], served.get_nowait().args[0]]) == [1, 2]
    with pytest.raises(Empty):
        served.get_nowait()


def test_connection_queue_get_keeps_its_timeout(make_dispatcher):
    a = make_dispatcher()
    connection = queue_connection()
    a.backend.connection_state.open_connection(connection)
    served = a.backend.connection_state.connection_queue(connection)

    for block, timeout, most in ((True, 0.4, 0.5), (False, 5, 0.1), (True, 0, 0.1)):
        started = time.monotonic()
        with pytest.raises(Empty):
            served.get(block=block, timeout=timeout)
        assert time.monotonic() - started < most


def test_connection_queue_drops_oldest_beyond_maxsize(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    connection = queue_connection(maxsize=2)
    a.backend.connection_state.open_connection(connection)
    for i in range(5):
        b.twitter("order:created", i)
    assert b.backend.flush()

    served = a.backend.connection_state.connection_queue(connection)
    assert served.dropped == 3
    assert [served.get_nowait().args[0] for _ in range(2)] == [3, 4]


def test_closed_connection_stops_collecting(make_dispatcher, raw, prefix):
    a = make_dispatcher()
    connection = queue_connection()
    a.backend.connection_state.open_connection(connection)
    a.backend.connection_state.close_connection(connection.token)

    a.twitter("order:created", 1)
    assert a.backend.flush()

    assert raw.zcard(f"{prefix}:routes") == 0
    assert raw.exists(f"{prefix}:q:c:{connection.token}") == 0


def test_connection_queue_for_a_oneway_connection_is_a_lookup_error(make_dispatcher):
    a = make_dispatcher()
    oneway = Connection(token=new_token(), principal="alice", style="oneway", ttl=60)
    with pytest.raises(LookupError):
        a.backend.connection_state.connection_queue(oneway)


def test_rpc_state_without_redis_raises_redis_unavailable():
    backend = RedisBackend(URL="redis://127.0.0.1:1/0", CONNECT_TIMEOUT=0.2)
    try:
        with pytest.raises(RedisUnavailable, match=r"127\.0\.0\.1:1"):
            backend.connection_state.get_connection("token")
        assert backend.connection_state.accept_uid("uid", 60) is True  # accepted rather than lost
    finally:
        backend.close()


# -- keys and bounds ---------------------------------------------------------------------


def test_every_key_carries_the_prefix_and_state_keys_expire(make_dispatcher, raw, prefix):
    a, b = make_dispatcher(), make_dispatcher()
    tasks = Queue("task:*", shared=True, dispatcher=a)
    a.backend.connection_state.open_connection(queue_connection("task:*"))
    a.backend.connection_state.accept_uid("uid-1", 60)
    b.twitter("task:run", 1)
    assert b.backend.flush()

    keys = {k.decode() for k in raw.scan_iter(match=f"{prefix}:*")}
    assert keys, "nothing was written under the prefix"
    # The stream, routes and conns are bounded by trimming and expiry; everything else expires.
    for key in keys - {f"{prefix}:bus", f"{prefix}:routes", f"{prefix}:conns"}:
        assert raw.pttl(key) > 0, key
    assert tasks.qsize() == 1


def test_stream_is_trimmed(make_dispatcher, raw, prefix):
    a = make_dispatcher(STREAM_MAXLEN=10, BATCH_SIZE=1)
    for i in range(500):
        a.twitter("tick:tock", i)
    assert a.backend.flush()
    assert raw.xlen(f"{prefix}:bus") < 200


# -- lifecycle and status ------------------------------------------------------------------


def test_status_counts_what_was_published_and_received(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    got = Recorder()
    b.register_function("tick:*", got)
    for i in range(10):
        a.twitter("tick:tock", i)
    got.wait_for(10)

    sent, received = a.backend.status(), b.backend.status()
    assert sent["connected"] is True and sent["last_error"] is None
    assert (sent["published"], sent["buffered"], sent["dropped"]) == (10, 0, 0)
    assert received["received"] == 10


def threads_of(backend: RedisBackend) -> list[threading.Thread]:
    """The backend's sender and receiver threads that are alive."""
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("berrymq-redis-") and t.name.endswith(backend.token)
    ]


def test_close_stops_the_threads_and_is_idempotent(make_dispatcher):
    a = make_dispatcher()
    threads = threads_of(a.backend)
    assert len(threads) == 2

    started = time.monotonic()
    a.backend.close()
    a.backend.close()

    assert not any(t.is_alive() for t in threads)
    assert time.monotonic() - started < 1
    a.twitter("after:close", 1)  # a closed backend ignores what it is handed
    assert a.backend.status()["connected"] is False


def test_after_close_nothing_reconnects_and_no_thread_survives(make_dispatcher, raw, prefix):
    a = make_dispatcher()
    backend = a.backend
    state = backend.connection_state
    tasks = Queue("task:*", shared=True, dispatcher=a)
    connection = queue_connection()
    state.open_connection(connection)
    served = state.connection_queue(connection)
    name = f"berrymq-{backend.token}"

    backend.close()

    def connections_named() -> list[Any]:
        return [c for c in raw.client_list() if c["name"] == name]

    eventually(lambda: not connections_named())
    for call in (
        backend.client,
        lambda: state.get_connection(connection.token),
        lambda: served.get(timeout=0.1),
        lambda: tasks.get(timeout=0.1),
        lambda: Queue("job:*", shared=True, dispatcher=a),
    ):
        with pytest.raises(RedisUnavailable, match="closed"):
            call()
    assert (tasks.qsize(), served.qsize(), served.dropped) == (0, 0, 0)
    a.twitter("task:run", 1)
    backend.start()  # what the lifecycle would do: nothing, once closed
    assert not backend.ready(0.2)
    assert threads_of(backend) == []
    time.sleep(0.1)  # anything that did connect would show up in this time
    assert connections_named() == []


def test_close_flushes_what_is_buffered(make_dispatcher):
    a, b = make_dispatcher(), make_dispatcher()
    got = Recorder()
    b.register_function("tick:*", got)
    for i in range(1000):
        a.twitter("tick:tock", i)
    a.backend.close()
    assert got.wait_for(1000) == list(range(1000))


def test_backend_replaced_by_configure_is_closed(make_dispatcher, redis_url, prefix):
    a = make_dispatcher()
    old = a.backend
    threads = threads_of(old)
    a.configure(backend=RedisBackend(URL=redis_url, PREFIX=prefix))
    try:
        assert old.closed and threads and not any(t.is_alive() for t in threads)
        assert a.backend.ready()
    finally:
        a.backend.close()


def test_a_batch_written_twice_is_delivered_once(make_dispatcher, raw, prefix):
    # What a sender does when Redis crashed after running a batch but before answering:
    # it writes the same batch (same token and number) to the restarted Redis.
    receiver = make_dispatcher()
    got = Recorder()
    receiver.register_function("order:*", got)
    batch = orjson.dumps(Message.create("order:created", 1, origin="elsewhere").to_dict())
    entry = {"p": "some-sender", "s": 7, "m": batch}

    raw.xadd(f"{prefix}:bus", entry)
    raw.xadd(f"{prefix}:bus", entry)
    raw.xadd(f"{prefix}:bus", {**entry, "s": 8})

    assert got.wait_for(2, settle=0.2) == [1, 1]


# -- through Django settings -----------------------------------------------------------


def test_settings_put_the_default_dispatcher_on_redis(make_dispatcher, redis_url, prefix):
    elsewhere = make_dispatcher()
    got = Recorder()
    elsewhere.register_function("site:*", got)
    options = {"URL": redis_url, "PREFIX": prefix}

    with override_settings(BERRYMQ={"BACKEND": REDIS_BACKEND, "BACKEND_OPTIONS": options}):
        backend = default_dispatcher.backend
        assert isinstance(backend, RedisBackend) and backend.ready()
        twitter("site:hello", 1)  # the public API, unchanged
        assert got.wait_for(1) == [1]

    assert backend.closed
    assert not isinstance(default_dispatcher.backend, RedisBackend)


def test_misspelt_option_in_settings_is_improperly_configured_naming_it():
    settings = {"BACKEND": REDIS_BACKEND, "BACKEND_OPTIONS": {"PREFX": "shop"}}
    with pytest.raises(ImproperlyConfigured, match="'PREFX'"), override_settings(BERRYMQ=settings):
        pass
    assert not isinstance(default_dispatcher.backend, RedisBackend)


# -- lag -------------------------------------------------------------------------


def test_lag_is_none_until_a_message_from_another_process_arrives(make_dispatcher: Any):
    sender, reader = make_dispatcher(), make_dispatcher()
    received = Recorder()
    reader.register_function("lag:*", received)
    assert reader.backend.status()["lag_seconds"] is None
    assert reader.backend.status()["lag_max_seconds"] is None

    sender.twitter("lag:now", 1)
    eventually(lambda: len(received.messages), until=lambda n: n == 1, timeout=20)

    status = reader.backend.status()
    assert isinstance(status["lag_seconds"], float)
    assert 0.0 <= status["lag_seconds"] < 30.0, status
    lag_max = eventually(
        lambda: reader.backend.status()["lag_max_seconds"], lambda v: v is not None, timeout=20
    )
    assert lag_max >= status["lag_seconds"]
    # The sender reads its own batches but delivers none of them from Redis: no lag.
    assert sender.backend.status()["lag_seconds"] is None


def test_lag_measures_from_the_senders_timestamp(make_dispatcher: Any):
    sender, reader = make_dispatcher(), make_dispatcher()
    received = Recorder()
    reader.register_function("lag:*", received)

    sender.send(Message("lag:old", (), None, "elsewhere", timestamp=time.time() - 120.0))
    eventually(lambda: len(received.messages), until=lambda n: n == 1, timeout=20)

    assert 120.0 <= reader.backend.status()["lag_seconds"] < 180.0
    lag_max = eventually(
        lambda: reader.backend.status()["lag_max_seconds"], lambda v: v is not None, timeout=20
    )
    assert lag_max >= 120.0
