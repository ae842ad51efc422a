"""RedisBackend across real processes: worker subprocesses, a fork, and gunicorn -w 3.

The worker processes (tests/backends/worker.py) each run a Dispatcher on
the Redis backend and answer JSON commands; this test process is one more
process on the same prefix (``make_dispatcher``).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from berrymq_django.core.message import Message
from tests.support import eventually

from .sites import Site


def first_args(messages: list[list[Any]], identifier: str | None = None) -> list[Any]:
    """The first argument of each recorded message ([id, args, kwargs, uid, origin])."""
    return [m[1][0] for m in messages if identifier is None or m[0] == identifier]


def test_every_process_gets_every_message_exactly_once(make_dispatcher, spawn):
    here = make_dispatcher()
    workers = spawn(2)
    for worker in workers:
        worker.call("follow", pattern="order:*", name="orders")
        assert worker.call("ready")["ready"]
    got_here: list[Message] = []
    here.register_function("order:*", got_here.append)

    for i in range(500):
        here.twitter("order:created", i)
    assert workers[0].call("twitter", id="order:paid", n=100, start=1000)["flushed"]

    expected_created = list(range(500))
    expected_paid = list(range(1000, 1100))
    for worker in workers:
        messages = worker.call("received", name="orders", count=600, settle=0.3)["messages"]
        assert first_args(messages, "order:created") == expected_created
        assert first_args(messages, "order:paid") == expected_paid
    eventually(lambda: len(got_here), until=lambda n: n >= 600)
    time.sleep(0.2)  # for any duplicate to arrive
    assert [m.args[0] for m in got_here if m.id == "order:paid"] == expected_paid
    assert len(got_here) == 600


def test_processes_have_distinct_tokens_and_origins(make_dispatcher, spawn):
    here = make_dispatcher()
    workers = spawn(2)
    tokens = {worker.call("ready")["token"] for worker in workers} | {here.backend.token}
    assert len(tokens) == 3
    got: list[Message] = []
    here.register_function("hello:*", got.append)

    for worker in workers:
        worker.call("twitter", id="hello:there")

    eventually(lambda: len(got), until=lambda n: n == 2)
    assert len({m.origin for m in got}) == 2  # "<hostname>-<pid>" of each worker
    assert len({m.uid for m in got}) == 2


def test_shared_queue_consumers_in_processes_take_each_message_once(make_dispatcher, spawn):
    here = make_dispatcher()
    workers = spawn(3)
    for worker in workers:
        worker.call("queue", name="tasks", pattern="task:*", shared=True)
        assert worker.call("ready")["ready"]

    for worker in workers:  # every consumer waits while the messages are sent
        worker.send("take", name="tasks", timeout=1.0)
    for i in range(300):
        here.twitter("task:run", i)
    assert here.backend.flush()
    taken = [worker.reply("take")["args"] for worker in workers]

    everything = [arg for part in taken for arg in part]
    assert sorted(everything) == list(range(300)), Counter(everything).most_common(3)
    assert all(part for part in taken), [len(part) for part in taken]  # work was shared


@pytest.mark.parametrize("site", ["started", "not-started"])
def test_forked_child_restarts_the_backend_with_its_own_token(
    make_dispatcher, spawn, tmp_path, site
):
    here = make_dispatcher()
    parent = spawn()
    parent.call("follow", pattern="fork:*", name="forked")
    if site == "started":  # the lifecycle restarts the threads in the child by itself
        assert parent.call("start_site")["connected"]
    parent_token = parent.call("ready")["token"]
    ready_file, result_file = tmp_path / "ready.json", tmp_path / "result.json"

    child = parent.call(
        "fork",
        name="forked",
        count=3,
        ready_file=str(ready_file),
        result_file=str(result_file),
        reply="fork:from-child",
    )["child"]
    try:
        eventually(ready_file.exists, timeout=15, what="the forked child to get ready")
        child_ready = json.loads(ready_file.read_text())
        assert child_ready["ready"] is True
        assert child_ready["token"] != parent_token
        assert child_ready["pid"] == child

        for i in range(3):
            here.twitter("fork:ping", i)

        eventually(result_file.exists, timeout=15, what="the forked child to report")
        result = json.loads(result_file.read_text())
        assert first_args(result["messages"]) == [0, 1, 2]
        assert result["flushed"] is True
        # The parent gets the pings, and the child's message: different tokens, not skipped.
        messages = parent.call("received", name="forked", count=4, settle=0.2)["messages"]
        assert first_args(messages, "fork:ping") == [0, 1, 2]
        assert first_args(messages, "fork:from-child") == [child]
    finally:
        assert parent.call("reap", pid=child)["status"] == 0


def test_queue_connection_made_in_one_process_is_served_by_another(make_dispatcher, spawn):
    here = make_dispatcher()
    opener, server = spawn(2)
    token = opener.call("open_connection", identifier="order:*", ttl=60)["token"]

    for i in range(3):
        here.twitter("order:created", i)
    opener.call("twitter", id="order:paid", n=2, start=10)
    here.twitter("user:created", "not matching")
    assert here.backend.flush()

    assert sorted(server.call("connection_take", token=token, timeout=0.3)["args"]) == [
        0,
        1,
        2,
        10,
        11,
    ]
    assert here.backend.connection_state.get_connection(token) is not None
    assert here.backend.connection_state.close_connection(token) is True
    assert server.call("connection_take", token=token, timeout=0.1)["args"] is None


def test_talk_across_processes(make_dispatcher, spawn):
    here = make_dispatcher()
    caller, other = spawn(2)
    caller.call("answer", pattern="price:ask", result=42)
    other.call("follow", pattern="price:*", name="prices")
    replies: list[Message] = []
    here.register_function("price:quoted", replies.append)
    assert caller.call("ready")["ready"] and other.call("ready")["ready"]

    assert caller.call("talk", id="price:ask", callback="price:quoted", args=[7])["results"] == [42]

    # The caller's follower answers 42; the other process's recording follower
    # answers too (None), and both replies reach every process.
    eventually(lambda: len(replies), until=lambda n: n >= 2)
    messages = other.call("received", name="prices", count=3)["messages"]
    request = next(m for m in messages if m[0] == "price:ask")
    answers = sorted((m[1] for m in messages if m[0] == "price:quoted"), key=repr)
    assert answers == [[42], [None]]
    assert all(m[2] == {"in_reply_to": request[3]} for m in messages if m[0] == "price:quoted")
    assert sorted((r.args for r in replies), key=repr) == [(42,), (None,)]
    assert all(r.kwargs == {"in_reply_to": request[3]} for r in replies)


# -- gunicorn with three workers ---------------------------------------------------------


@pytest.mark.parametrize("preload", [False, True], ids=["workers-import", "preload-fork"])
def test_gunicorn_twitter_in_one_worker_reaches_followers_in_all_three(redis_url, prefix, preload):
    site = Site(redis_url, prefix, preload)
    try:
        site.start()
        workers = site.from_every_worker("/ready/", lambda a: a["ready"], hold=0.2)
        assert len(workers) == 3
        assert len({a["token"] for a in workers.values()}) == 3
        marker = uuid.uuid4().hex

        sender = site.get("/send/", marker=marker)

        def got_marker(answer: dict[str, Any]) -> bool:
            return [r["args"] for r in answer["received"]].count([marker]) == 1

        answers = site.from_every_worker("/received/", got_marker, hold=0.2)
        assert set(answers) == set(workers)
        for answer in answers.values():
            (message,) = [r for r in answer["received"] if r["args"] == [marker]]
            assert message["uid"] == sender["uid"]  # once, the very message sent
    finally:
        site.close(show_log=True)


def test_gunicorn_token_made_in_one_worker_is_served_by_all_three(redis_url, prefix):
    site = Site(redis_url, prefix, key=secrets.token_urlsafe(32))
    try:
        site.start()
        site.from_every_worker("/ready/", lambda a: a["ready"], hold=0.2)
        answer, opener = site.rpc("connect_via_queue", identifier="order:*", ttl=60)
        token = answer["result"]

        # Send through the token until every worker has served it at least once.
        served: set[int] = set()
        sent = 0
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(6) as pool:
            while len(served) < 3 and time.monotonic() < deadline:
                calls = [
                    pool.submit(
                        site.rpc, "send_message", token=token, identifier="order:new", args=[i]
                    )
                    for i in range(sent, sent + 6)
                ]
                sent += 6
                for call in calls:
                    answer, pid = call.result()
                    assert answer.get("result") == "ok", answer
                    served.add(pid)
        assert len(served) == 3, f"only workers {served} served the token of worker {opener}"

        # Whichever workers answer, each message comes out of the token's queue once.
        taken: list[Any] = []
        deadline = time.monotonic() + 20
        with ThreadPoolExecutor(3) as pool:
            while True:
                answers = list(pool.map(lambda _: site.rpc("get_nowait", token=token), range(3)))
                taken += [a["result"]["args"][0] for a, _ in answers if "result" in a]
                errors = [a["error"]["message"] for a, _ in answers if "error" in a]
                assert set(errors) <= {"timeout"}, answers
                if len(errors) == 3 and (len(taken) >= sent or time.monotonic() > deadline):
                    break  # drained (a worker's sender may still be writing the last ones)
        assert sorted(taken) == list(range(sent))
    finally:
        site.close(show_log=True)
