"""Follower groups on the Redis backend, with several backends in this process.

Each ``make_dispatcher()`` is one process as far as Redis can tell: a
backend of its own, with its own token, so its own consumer of each group
stream. The real-process tests (gunicorn workers killed and stopped) are in
test_redis_group_sites.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from berrymq_django.backends.base import GroupPolicy
from berrymq_django.backends.redis.group_scripts import ACKNOWLEDGE
from berrymq_django.backends.redis.wire import CONSUMER_GROUP, window_uid
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.identifier import Identifier
from berrymq_django.core.message import Message
from tests.support import eventually

FAST = GroupPolicy(claim_seconds=1.0, max_attempts=3)


class Handled:
    """Record, thread-safely, which process (dispatcher) ran which message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: list[tuple[str, Message]] = []

    def member(self, name: str, result: Any = None) -> Any:
        def follower(message: Message) -> Any:
            with self.lock:
                self.runs.append((name, message))
            return result

        return follower

    def uids(self) -> Counter[str]:
        with self.lock:
            return Counter(m.uid for _, m in self.runs)

    def by_process(self) -> Counter[str]:
        with self.lock:
            return Counter(name for name, _ in self.runs)

    def count(self) -> int:
        with self.lock:
            return len(self.runs)


def members(
    make_dispatcher, count: int, policy: GroupPolicy = FAST, **options: Any
) -> list[Dispatcher]:
    """Make count processes for group members, with policy as their GROUP_* settings."""
    made = []
    for _ in range(count):
        dispatcher = make_dispatcher(**options)
        dispatcher.backend.configure_groups(policy)
        made.append(dispatcher)
    return made


def stream_key(dispatcher: Dispatcher, group: str, pattern: str) -> str:
    return dispatcher.backend.keys.group_stream(group, Identifier(pattern))


# -- once per group ------------------------------------------------------------------------


def test_each_grouped_message_runs_once_in_one_process_and_plain_followers_in_all(
    make_dispatcher,
):
    sender = make_dispatcher()  # sends only: a sender needs no member
    grouped, plain = Handled(), Handled()
    workers = members(make_dispatcher, 3)
    for index, worker in enumerate(workers):
        worker.register_function("order:*", grouped.member(f"w{index}"), group="stock")
        worker.register_function("order:*", plain.member(f"w{index}"))

    sent = [sender.twitter("order:created", i).uid for i in range(300)]
    assert sender.backend.flush()

    eventually(grouped.count, until=lambda n: n >= 300, timeout=15)
    eventually(plain.count, until=lambda n: n >= 900, timeout=15)
    assert grouped.uids() == Counter(sent)  # each exactly once
    assert plain.by_process() == {"w0": 300, "w1": 300, "w2": 300}
    assert all(w.backend.status()["group_handled"] >= 0 for w in workers)
    # Acknowledged entries are trimmed: the stream keeps only what is not done.
    raw = workers[0].backend.client()
    eventually(lambda: raw.xlen(stream_key(workers[0], "stock", "order:*")), until=lambda n: n == 0)


def test_two_groups_each_run_every_message_once(make_dispatcher):
    sender = make_dispatcher()
    stock, mail = Handled(), Handled()
    for index, worker in enumerate(members(make_dispatcher, 2)):
        worker.register_function("order:*", stock.member(f"w{index}"), group="stock")
        worker.register_function("*:created", mail.member(f"w{index}"), group="mail")

    sent = [sender.twitter("order:created", i).uid for i in range(50)]
    sender.twitter("user:created", "not an order")
    eventually(lambda: (stock.count(), mail.count()), until=lambda n: n == (50, 51))
    assert stock.uids() == Counter(sent)
    assert set(sent) <= set(mail.uids())


def test_a_message_matching_two_patterns_of_one_group_reaches_the_group_once(make_dispatcher):
    sender = make_dispatcher()
    handled = Handled()
    for index, worker in enumerate(members(make_dispatcher, 2)):
        worker.register_function("order:*", handled.member(f"order-{index}"), group="g")
        worker.register_function("*:created", handled.member(f"created-{index}"), group="g")

    message = sender.twitter("order:created", 1)
    eventually(handled.count, until=lambda n: n >= 2)
    runs = handled.by_process()
    # One process ran both of its members, each once.
    assert sorted(runs) in (["created-0", "order-0"], ["created-1", "order-1"])
    assert handled.uids() == {message.uid: 2}


def test_processes_following_other_patterns_of_a_group_get_only_what_they_can_run(
    make_dispatcher,
):
    sender = make_dispatcher()
    handled = Handled()
    narrow, wide = members(make_dispatcher, 2)
    narrow.register_function("order:created", handled.member("narrow"), group="g")
    wide.register_function("order:*", handled.member("wide"), group="g")

    created = [sender.twitter("order:created", i).uid for i in range(20)]
    paid = [sender.twitter("order:paid", i).uid for i in range(20)]
    eventually(handled.count, until=lambda n: n >= 40)
    assert handled.uids() == Counter(created + paid)
    assert not any(
        name == "narrow" and m.id == "order:paid" for name, m in handled.runs
    )  # never handed what it has no member for
    assert narrow.backend.status()["group_declined"] == 0


def test_a_local_message_runs_its_grouped_followers_where_it_is_sent(make_dispatcher):
    here = make_dispatcher()
    handled = Handled()
    here.register_function("*:tick", handled.member("here"), group="g")
    here.twitter("_clock:tick")  # never leaves the process
    assert handled.count() == 1


# -- failures, retries and dead letters ---------------------------------------------------


def test_a_failing_follower_is_tried_again_and_kept_as_a_dead_letter(make_dispatcher, caplog):
    sender = make_dispatcher()
    (worker,) = members(make_dispatcher, 1)
    calls: list[Message] = []
    healthy = threading.Event()

    def reserve(message: Message) -> None:
        calls.append(message)
        if not healthy.is_set():
            raise RuntimeError(f"no stock for {message.args[0]}")

    worker.register_function("order:*", reserve, group="stock")
    with caplog.at_level(logging.WARNING, logger="berrymq"):
        message = sender.twitter("order:created", 7)
        dead = worker.backend.dead_letters
        eventually(dead.counts, until=lambda c: c == {"stock": 1}, timeout=10)

    assert [m.uid for m in calls] == [message.uid] * 3  # GROUP_MAX_ATTEMPTS calls in all
    (letter,) = dead.list("stock")
    assert letter.attempts == 3
    assert letter.identifier == "order:created"
    assert letter.message is not None and letter.message.uid == message.uid
    assert "RuntimeError: no stock for 7" in letter.error
    assert letter.worker == worker.backend.token
    assert "gave up on 'order:created'" in caplog.text
    status = worker.backend.status()
    assert (status["group_retried"], status["group_dead_lettered"]) == (2, 1)
    raw = worker.backend.client()
    key = stream_key(worker, "stock", "order:*")
    eventually(lambda: raw.xlen(key), until=lambda n: n == 0)  # acknowledged, trimmed

    healthy.set()
    assert dead.retry("stock") == {"stock": (1, 0)}
    eventually(lambda: len(calls), until=lambda n: n == 4)
    assert calls[-1].uid == message.uid  # the same message, handled once more
    assert dead.counts() == {}


def test_a_follower_that_fails_once_is_handled_by_its_second_attempt(make_dispatcher):
    sender = make_dispatcher()
    (worker,) = members(make_dispatcher, 1)
    calls: list[Message] = []

    def flaky(message: Message) -> None:
        calls.append(message)
        if len(calls) == 1:
            raise ConnectionError("mail server busy")

    worker.register_function("mail:send", flaky, group="mail")
    sender.twitter("mail:send", "hello")
    eventually(lambda: worker.backend.status()["group_handled"], until=lambda n: n == 1)
    assert len(calls) == 2
    assert worker.backend.dead_letters.counts() == {}


def test_dead_letters_that_no_member_follows_stay(make_dispatcher):
    (worker,) = members(make_dispatcher, 1, GroupPolicy(claim_seconds=1.0, max_attempts=1))

    def failing(message: Message) -> None:
        raise ValueError("bad")

    worker.register_function("job:*", failing, group="jobs")
    make_dispatcher().twitter("job:run")
    dead = worker.backend.dead_letters
    eventually(dead.counts, until=lambda c: c == {"jobs": 1})
    worker.unregister(failing)  # the last member leaves: its route is withdrawn at once
    assert dead.retry() == {"jobs": (0, 1)}
    assert dead.purge("jobs") == {"jobs": 1}
    assert dead.counts() == {}


def test_dead_letters_are_bounded_per_group(make_dispatcher):
    policy = GroupPolicy(claim_seconds=1.0, max_attempts=1, dead_letters=3)
    (worker,) = members(make_dispatcher, 1, policy)

    def failing(message: Message) -> None:
        raise ValueError(message.args[0])

    worker.register_function("job:*", failing, group="jobs")
    for i in range(5):
        worker.twitter("job:run", i)
    dead = worker.backend.dead_letters
    eventually(lambda: worker.backend.status()["group_dead_lettered"], until=lambda n: n == 5)
    assert dead.counts() == {"jobs": 3}
    assert [d.message.args for d in dead.list("jobs") if d.message] == [(2,), (3,), (4,)]
    assert int(worker.backend.client().hget(worker.backend.keys.dead_dropped, "jobs")) == 2


# -- claims: members that die or stall ---------------------------------------------------


def ghost_read(raw, key: str, count: int = 100) -> list[bytes]:
    """Take entries as a consumer that will never acknowledge them (a killed process)."""
    answer = raw.xreadgroup(CONSUMER_GROUP, "ghost", {key: ">"}, count=count)
    return [entry_id for _, entries in answer for entry_id, _ in entries]


def test_messages_held_by_a_dead_member_are_claimed_by_another(make_dispatcher, raw):
    sender = make_dispatcher()
    key = stream_key(sender, "stock", "order:*")
    handled = Handled()
    # Another process joins the group but never runs anything: its entries stay pending.
    quiet = make_dispatcher()
    quiet.backend.join_group("stock", Identifier("order:*"))
    quiet.backend.close()

    sent = [sender.twitter("order:created", i).uid for i in range(10)]
    assert sender.backend.flush()
    held = ghost_read(raw, key)
    assert len(held) == 10
    assert raw.xpending(key, CONSUMER_GROUP)["pending"] == 10

    (survivor,) = members(make_dispatcher, 1)
    survivor.register_function("order:*", handled.member("survivor"), group="stock")
    eventually(handled.count, until=lambda n: n >= 10, timeout=10)
    assert handled.uids() == Counter(sent)
    assert survivor.backend.status()["group_claimed"] >= len(held)


def test_a_late_acknowledgement_leaves_the_uid_for_the_member_that_claimed_it(make_dispatcher, raw):
    sender = make_dispatcher()
    key = stream_key(sender, "stock", "order:*")
    quiet = make_dispatcher()
    quiet.backend.join_group("stock", Identifier("order:*"))
    quiet.backend.close()
    message = sender.twitter("order:created", 1)
    assert sender.backend.flush()
    (first,) = ghost_read(raw, key)

    # The ghost ran the entry, and acknowledges it after another member claimed it.
    raw.xclaim(key, CONSUMER_GROUP, "claimer", 0, [first])
    window = sender.backend.keys.group_window("stock")
    acknowledge = raw.register_script(ACKNOWLEDGE)
    args = [CONSUMER_GROUP, "ghost", window, 60_000, first, window_uid(message.uid)]
    assert acknowledge(keys=[key], args=args) == 1  # held by another member
    assert raw.exists(window + window_uid(message.uid))
    assert raw.xpending(key, CONSUMER_GROUP)["pending"] == 0

    # The same message held again by a member that stops answering: whoever claims it
    # finds its uid done and acknowledges it without running it.
    sender.send(message)
    assert sender.backend.flush()
    ghost_read(raw, key)
    handled = Handled()
    (survivor,) = members(make_dispatcher, 1)
    survivor.register_function("order:*", handled.member("survivor"), group="stock")
    eventually(lambda: survivor.backend.status()["group_skipped"], until=lambda n: n == 1)
    assert handled.count() == 0
    eventually(lambda: raw.xlen(key), until=lambda n: n == 0)


def test_a_member_without_a_follower_for_the_message_leaves_it_to_another(make_dispatcher):
    sender = make_dispatcher()
    handled = Handled()
    hollow, real = members(make_dispatcher, 2)
    # hollow reads the group's stream but has no follower for it (a member just gone).
    hollow.backend.join_group("stock", Identifier("order:*"))
    real.register_function("order:*", handled.member("real"), group="stock")

    sent = [sender.twitter("order:created", i).uid for i in range(40)]
    eventually(handled.count, until=lambda n: n >= 40, timeout=15)
    assert handled.uids() == Counter(sent)


# -- bounds and tidiness ------------------------------------------------------------------


def test_a_group_stream_past_its_maxlen_drops_the_oldest_counted_and_logged(
    make_dispatcher, caplog
):
    quiet = make_dispatcher()
    quiet.backend.join_group("stock", Identifier("order:*"))  # a member that never reads
    quiet.backend.close()
    sender = make_dispatcher()
    sender.backend.configure_groups(GroupPolicy(maxlen=50))
    with caplog.at_level(logging.WARNING, logger="berrymq"):
        for i in range(200):
            sender.twitter("order:created", i)
        assert sender.backend.flush()
    raw = sender.backend.client()
    assert raw.xlen(stream_key(sender, "stock", "order:*")) == 50
    assert sender.backend.status()["group_dropped"] == 150
    assert int(raw.hget(sender.backend.keys.group_dropped, "stock")) == 150
    assert "oldest grouped message(s) of group 'stock'" in caplog.text


def test_acknowledged_messages_never_count_against_the_maxlen(make_dispatcher):
    sender = make_dispatcher()
    sender.backend.configure_groups(GroupPolicy(maxlen=50))
    worker = make_dispatcher()  # default claim time: trims at its first pass, then seldom
    handled = Handled()
    worker.register_function("order:*", handled.member("worker"), group="stock")
    for batch in range(3):
        for i in range(40):
            sender.twitter("order:created", i)
        assert sender.backend.flush()
        eventually(handled.count, until=lambda n, b=batch: n == 40 * (b + 1))
    assert sender.backend.status()["group_dropped"] == 0


def test_a_consumer_that_stops_leaves_its_streams_and_idle_ones_are_removed(make_dispatcher, raw):
    first, second = members(make_dispatcher, 2, GroupPolicy(claim_seconds=0.5), SHARED_LEASE=0.5)
    handled = Handled()
    first.register_function("order:*", handled.member("first"), group="stock")
    second.register_function("order:*", handled.member("second"), group="stock")
    key = stream_key(first, "stock", "order:*")

    def both_took_some() -> bool:  # Redis makes a consumer when it first hands it entries
        first.twitter("order:created")
        first.backend.flush()
        return len(handled.by_process()) == 2

    eventually(both_took_some, timeout=15, interval=0.05)

    def consumers() -> set[str]:
        return {c["name"].decode() for c in raw.xinfo_consumers(key, CONSUMER_GROUP)}

    eventually(lambda: first.backend.status()["group_handled"], until=lambda n: n >= 1)
    first.backend.close()  # a graceful stop holding nothing: its consumer goes at once
    assert first.backend.token not in consumers()

    raw.xgroup_createconsumer(key, CONSUMER_GROUP, "ended-long-ago")  # holds nothing
    eventually(
        lambda: "ended-long-ago" in consumers(),
        until=lambda present: not present,
        timeout=15,  # idle for two leases (SHARED_LEASE 0.5 s here), then seen by a tidy
    )


def test_leaving_withdraws_the_route_at_once(make_dispatcher, raw):
    sender = make_dispatcher()
    (worker,) = members(make_dispatcher, 1)
    handled = Handled()
    follower = handled.member("worker")
    worker.register_function("order:*", follower, group="stock")
    assert raw.zcard(worker.backend.keys.groups) == 1
    worker.unregister(follower)
    assert raw.zcard(worker.backend.keys.groups) == 0
    sender.twitter("order:created")
    assert sender.backend.flush()
    assert raw.xlen(stream_key(worker, "stock", "order:*")) == 0  # not routed there


# -- talk and messages from elsewhere -----------------------------------------------------


def test_talk_to_a_grouped_follower_gets_one_answer(make_dispatcher):
    caller = make_dispatcher()
    answers: list[Message] = []
    caller.register_function("price:quoted", answers.append)
    workers = members(make_dispatcher, 3)
    for index, worker in enumerate(workers):
        worker.register_function("price:ask", lambda m, i=index: ["quote", i], group="pricing")

    request_uid = None

    def remember(message: Message) -> None:
        nonlocal request_uid
        request_uid = message.uid

    caller.register_function("price:ask", remember)  # a plain follower: answers None here
    results = caller.talk("price:ask", "price:quoted", 7)
    assert results == [None]
    eventually(lambda: len(answers), until=lambda n: n >= 2)
    for worker in workers:
        assert worker.backend.flush()
    time.sleep(0.2)  # for a second answer from the group, if any, to arrive
    from_group = [a for a in answers if a.args[0] is not None]
    assert len(from_group) == 1
    assert from_group[0].args[0][0] == "quote"
    assert from_group[0].kwargs == {"in_reply_to": request_uid}


def test_a_message_sent_from_elsewhere_runs_once_per_group(make_dispatcher):
    """Peers and JSON-RPC clients hand messages to dispatcher.send(): forwarded to the group."""
    entry, *others = make_dispatcher(), *members(make_dispatcher, 2)
    handled = Handled()
    for index, worker in enumerate(others):
        worker.register_function("order:*", handled.member(f"w{index}"), group="stock")
    incoming = Message("order:created", (1,), {}, "site-b")
    entry.send(incoming)
    eventually(handled.count, until=lambda n: n >= 1)
    assert handled.uids() == {incoming.uid: 1}


def test_grouped_messages_wait_while_redis_is_down_and_run_once_when_it_is_back(
    own_redis, make_dispatcher
):
    sender = make_dispatcher(own_redis.url)
    (worker,) = members(make_dispatcher, 1, url=own_redis.url)
    handled = Handled()
    plain: list[Message] = []
    sender.register_function("order:*", plain.append)
    worker.register_function("order:*", handled.member("worker"), group="stock")

    own_redis.stop()
    eventually(lambda: sender.backend.connected, until=lambda up: not up, timeout=5)
    sent = [sender.twitter("order:created", i).uid for i in range(20)]
    assert len(plain) == 20  # in-process delivery carries on
    assert sender.backend.status()["buffered"] == 20

    own_redis.start()  # empty: the routes and the consumer groups are made again
    eventually(handled.count, until=lambda n: n >= 20, timeout=20)
    assert handled.uids() == Counter(sent)


def test_a_process_decodes_only_the_bus_messages_something_in_it_follows(
    make_dispatcher, raw, caplog
):
    """Grouped messages still travel on the bus, for plain followers elsewhere; a process
    without any for them does not even decode them."""
    here = make_dispatcher()
    got: list[Message] = []
    here.register_function("user:*", got.append)
    good = b'{"id":"user:created","args":[1],"kwargs":{},"uid":"u1","origin":"o","timestamp":1.5}'
    raw.xadd(
        here.backend.keys.stream,
        {
            "p": "elsewhere",
            "s": 1,
            "m": b"not json at all\n" + good,
            "i": b"order:created\nuser:created",
        },
    )
    eventually(lambda: [m.args for m in got], until=lambda args: args == [(1,)])
    assert "malformed" not in caplog.text  # the unwanted line was never parsed
    assert here.backend.status()["received"] == 2
