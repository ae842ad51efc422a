"""RedisBackend when Redis goes away: a private redis-server is killed and restarted.

The shared Redis is never touched: ``own_redis`` starts a redis-server of the
test's own on a free port (no persistence, like a crash that loses its data).
"""

from __future__ import annotations

import logging
import threading
import time
from queue import Empty

import pytest

from berrymq_django.backends.redis import RedisUnavailable
from berrymq_django.core.message import Message
from berrymq_django.core.queue import Queue
from berrymq_django.rpc.connections import Connection, new_token
from tests.support import eventually, free_port


def statuses(*dispatchers):
    """A probe for eventually(): the backend status of each dispatcher."""
    return lambda: [d.backend.status() for d in dispatchers]


def disconnected(statuses: list[dict]) -> bool:
    return not any(status["connected"] for status in statuses)


def connected(statuses: list[dict]) -> bool:
    return all(status["connected"] for status in statuses)


def test_redis_restart_while_messages_flow(own_redis, make_dispatcher):
    sender, receiver = make_dispatcher(own_redis.url), make_dispatcher(own_redis.url)
    local: list[Message] = []
    remote: list[Message] = []
    sender.register_function("flow:*", local.append)
    receiver.register_function("flow:*", remote.append)
    slowest = 0.0
    sent = 0
    stop = threading.Event()

    def flow() -> None:  # about one message a millisecond, through the outage
        nonlocal slowest, sent
        while not stop.is_set():
            started = time.perf_counter()
            sender.twitter("flow:tick", sent)
            slowest = max(slowest, time.perf_counter() - started)
            sent += 1
            time.sleep(0.001)

    thread = threading.Thread(target=flow)
    thread.start()
    try:
        eventually(lambda: len(remote), until=lambda n: n > 100)
        own_redis.stop()
        eventually(statuses(sender, receiver), until=disconnected, timeout=3)
        lost_at = sent  # everything twittered from here on waits in the buffer
        status = eventually(sender.backend.status, until=lambda status: status["buffered"] > 0)
        assert status["connected"] is False and status["last_error"]
        assert status["buffered"] > 0
        assert len(local) >= sent - 1  # in-process delivery carried on

        own_redis.start()
        eventually(statuses(sender, receiver), until=connected, timeout=5)
        back_at = sent  # let the flow go on a while over the new connection
        eventually(lambda: remote[-1].args[0], until=lambda last: last > back_at, timeout=5)
    finally:
        stop.set()
        thread.join()

    eventually(lambda: sender.backend.status()["buffered"], until=lambda n: n == 0)
    eventually(lambda: remote[-1].args[0], until=lambda last: last == sent - 1, timeout=5)
    received = [m.args[0] for m in remote]
    assert len(received) == len(set(received)), "a message arrived twice"
    assert received == sorted(received)
    assert set(range(lost_at, sent)) <= set(received), "a buffered message was lost"
    assert [m.args[0] for m in local] == list(range(sent))
    # No twitter waited for Redis: a wait would last a reconnect backoff or longer; the
    # bound leaves room for a loaded machine's scheduling.
    assert slowest < 0.5, f"a twitter took {slowest * 1000:.1f} ms during the outage"
    assert sender.backend.status()["dropped"] == 0


def test_buffer_bound_drops_the_oldest_counted_and_logged(own_redis, make_dispatcher, caplog):
    sender = make_dispatcher(own_redis.url, BUFFER_SIZE=50)
    receiver = make_dispatcher(own_redis.url)
    remote: list[Message] = []
    receiver.register_function("burst:*", remote.append)
    own_redis.stop()
    eventually(statuses(sender, receiver), until=disconnected, timeout=3)

    with caplog.at_level(logging.WARNING, logger="berrymq"):
        for i in range(200):
            sender.twitter("burst:item", i)
        status = sender.backend.status()
        assert (status["buffered"], status["dropped"]) == (50, 150)
        eventually(lambda: "dropped 150 message(s)" in caplog.text, timeout=3)

        own_redis.start()
        eventually(lambda: len(remote), until=lambda n: n >= 50, timeout=5)
    time.sleep(0.1)

    assert [m.args[0] for m in remote] == list(range(150, 200))  # the newest were kept
    status = sender.backend.status()
    assert (status["buffered"], status["dropped"], status["connected"]) == (0, 150, True)
    assert "cannot reach Redis" in caplog.text and "reached Redis at" in caplog.text


def test_shared_queue_and_routes_come_back_after_a_restart(own_redis, make_dispatcher):
    consumer, producer = make_dispatcher(own_redis.url), make_dispatcher(own_redis.url)
    tasks = Queue("task:*", shared=True, dispatcher=consumer)
    own_redis.stop()
    eventually(statuses(consumer, producer), until=disconnected, timeout=3)

    started = time.monotonic()
    with pytest.raises(Empty):
        tasks.get(timeout=0.3)  # waits out its timeout, no connection error
    assert time.monotonic() - started < 3.0  # its own timeout, not a connection's
    with pytest.raises(Empty):
        tasks.get_nowait()
    producer.twitter("task:run", "buffered while down")

    own_redis.start()  # empty: the consumer's route is registered again on reconnecting
    eventually(statuses(consumer, producer), until=connected, timeout=5)

    assert tasks.get(timeout=5).args == ("buffered while down",)


def test_without_redis_twitter_carries_on_and_requests_keep_their_timeouts(make_dispatcher):
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    dispatcher = make_dispatcher(nowhere, ready=False, CONNECT_TIMEOUT=0.2)
    got: list[Message] = []
    dispatcher.register_function("order:*", got.append)
    backend = dispatcher.backend

    started = time.monotonic()
    for i in range(1000):
        dispatcher.twitter("order:created", i)
    assert time.monotonic() - started < 5.0  # no twitter waits a connect timeout (0.2 s)
    assert len(got) == 1000
    assert not backend.ready(0.3)
    status = backend.status()
    assert (status["connected"], status["buffered"]) == (False, 1000)
    assert "Error" in status["last_error"]

    tasks = Queue("task:*", shared=True, dispatcher=dispatcher)  # does not raise
    connection = Connection(
        token=new_token(), principal="alice", style="queue", ttl=60, identifier="order:*"
    )
    for queue in (tasks, backend.connection_state.connection_queue(connection)):
        started = time.monotonic()
        with pytest.raises(Empty):
            queue.get(timeout=0.3)
        assert time.monotonic() - started < 3.0  # its own timeout, not a connection's
    assert backend.connection_state.accept_uid("uid-1", 60) is True
    with pytest.raises(RedisUnavailable):
        backend.connection_state.open_connection(connection)


def _kill(worker) -> None:
    worker.kill()  # no goodbye: its route stays until its lease runs out


def _terminate(worker) -> None:
    # SIGTERM, as a deploy or --max-requests sends: it closes its queue and exits cleanly,
    # which must keep the route as a crash does until its lease runs out.
    assert worker.terminate() == 0, "".join(worker.stderr)


@pytest.mark.parametrize("stop", [_kill, _terminate], ids=["crashed", "gracefully_stopped"])
def test_a_restarted_worker_loses_no_shared_queue_message(make_dispatcher, spawn, stop):
    here = make_dispatcher()
    first = spawn()
    first.call("queue", name="tasks", pattern="task:*", shared=True)
    assert first.call("ready")["ready"]

    for i in range(100):
        here.twitter("task:run", i)
    assert here.backend.flush()
    taken_first = first.call("take", name="tasks", most=30)["args"]
    stop(first)

    for i in range(100, 150):
        here.twitter("task:run", i)
    assert here.backend.flush()
    second = spawn()
    second.call("queue", name="tasks", pattern="task:*", shared=True)
    taken_second = second.call("take", name="tasks", timeout=0.3)["args"]

    assert len(taken_first) == 30
    assert sorted(taken_first + taken_second) == list(range(150))


def test_batches_trimmed_away_from_a_slow_process_are_counted_and_logged(make_dispatcher, caplog):
    # STREAM_MAXLEN keeps about that many batches (Redis trims whole nodes of 100):
    # a process stuck in a follower while hundreds are written misses some, and says so.
    sender = make_dispatcher(STREAM_MAXLEN=1, BATCH_SIZE=1)
    slow = make_dispatcher()
    release, first = threading.Event(), threading.Event()

    def stuck(message: Message) -> None:
        first.set()
        release.wait(30)

    slow.register_function("job:*", stuck)
    sender.twitter("job:first", 0)
    assert sender.backend.flush()
    assert first.wait(10)
    for i in range(1, 600):
        sender.twitter("job:run", i)
        if i % 50 == 0:
            assert sender.backend.flush()  # many small batches, each its own stream entry
    assert sender.backend.flush()
    with caplog.at_level(logging.WARNING, logger="berrymq"):
        release.set()
        missed = eventually(
            lambda: slow.backend.status()["missed_batches"], timeout=10, what="a gap to be seen"
        )
    assert 0 < missed < 600
    assert "missed" in caplog.text and "STREAM_MAXLEN" in caplog.text
