"""Pull queues: copies vs shared stores, bounded size, blocking, closing, asyncio."""

from __future__ import annotations

import asyncio
import gc
import itertools
import queue as stdlib_queue
import threading
import time
import weakref

import pytest

from berrymq_django import Empty, Identifier, Queue, default_dispatcher, show_followers, twitter

from . import DEADLINE, memory_growth, run_with_deadline


def drain(q):
    """Return every buffered message of q without blocking."""
    messages = []
    while True:
        try:
            messages.append(q.get_nowait())
        except Empty:
            return messages


def test_empty_is_the_stdlib_queue_empty():
    assert Empty is stdlib_queue.Empty


def test_queue_receives_matching_messages():
    q = Queue("job")
    sent = [twitter("job:run", 1), twitter("job:stop"), twitter("other:run")]
    assert [m.uid for m in drain(q)] == [sent[0].uid, sent[1].uid]


def test_queue_identifier_attribute_is_parsed():
    q = Queue("job:run")
    assert isinstance(q.identifier, Identifier)
    assert q.identifier == Identifier("job:run")


def test_get_returns_the_message_with_its_arguments():
    q = Queue("job:run")
    sent = twitter("job:run", 1, key="v")
    received = q.get(timeout=DEADLINE)
    assert received.uid == sent.uid
    assert received.args == (1,)
    assert received.kwargs == {"key": "v"}


def test_standalone_queues_each_get_a_copy():
    first, second = Queue("job:run"), Queue("job:run")
    sent = twitter("job:run")
    assert [m.uid for m in drain(first)] == [sent.uid]
    assert [m.uid for m in drain(second)] == [sent.uid]


def test_shared_queues_consume_each_message_once():
    first, second = Queue("job:run", shared=True), Queue("job:run", shared=True)
    sent = {twitter("job:run", i).uid for i in range(10)}

    got = [m.uid for m in drain(first)] + [m.uid for m in drain(second)]

    assert sorted(got) == sorted(sent)


def test_message_taken_from_one_shared_queue_is_gone_from_the_other():
    first, second = Queue("job:run", shared=True), Queue("job:run", shared=True)
    twitter("job:run")
    first.get_nowait()
    with pytest.raises(Empty):
        second.get_nowait()


def test_standalone_queue_beside_shared_ones_gets_its_own_copy():
    shared_a, shared_b = Queue("job:run", shared=True), Queue("job:run", shared=True)
    own = Queue("job:run")
    for i in range(3):
        twitter("job:run", i)
    assert len(drain(own)) == 3
    assert len(drain(shared_a)) + len(drain(shared_b)) == 3


def test_shared_queues_with_different_identifiers_do_not_share():
    run, stop = Queue("job:run", shared=True), Queue("job:stop", shared=True)
    twitter("job:run")
    assert run.qsize() == 1
    assert stop.qsize() == 0


def test_full_queue_drops_its_oldest_message_and_counts_it():
    q = Queue("job:run", maxsize=2)
    for i in range(3):
        twitter("job:run", i)
    assert q.dropped == 1
    assert [m.args for m in drain(q)] == [(1,), (2,)]


def test_twitter_never_blocks_on_a_full_queue():
    q = Queue("job:run", maxsize=1)

    def send_many():
        for i in range(100):
            twitter("job:run", i)

    run_with_deadline(send_many)
    assert q.dropped == 99
    assert q.get_nowait().args == (99,)


def test_qsize_empty_and_full():
    q = Queue("job:run", maxsize=2)
    assert (q.qsize(), q.empty(), q.full()) == (0, True, False)
    twitter("job:run")
    assert (q.qsize(), q.empty(), q.full()) == (1, False, False)
    twitter("job:run")
    assert (q.qsize(), q.empty(), q.full()) == (2, False, True)


def test_unbounded_queue_is_never_full():
    q = Queue("job:run")
    for _ in range(100):
        twitter("job:run")
    assert q.qsize() == 100
    assert not q.full()
    assert q.dropped == 0


def test_get_nowait_on_an_empty_queue_raises_empty():
    with pytest.raises(Empty):
        Queue("job:run").get_nowait()


def test_get_with_timeout_raises_empty_after_the_timeout():
    q = Queue("job:run")
    start = time.monotonic()
    with pytest.raises(Empty):
        run_with_deadline(lambda: q.get(block=True, timeout=0.1))
    elapsed = time.monotonic() - start
    assert 0.05 <= elapsed < DEADLINE


def test_get_non_blocking_raises_empty_at_once():
    q = Queue("job:run")
    with pytest.raises(Empty):
        run_with_deadline(lambda: q.get(block=False))


def test_get_blocks_until_another_thread_twitters():
    q = Queue("job:run")
    assert q.empty()
    sender = threading.Timer(0.1, twitter, args=("job:run", "late"))
    sender.start()
    try:
        message = q.get(timeout=DEADLINE)
    finally:
        sender.join(DEADLINE)
    assert message.args == ("late",)


def test_closed_queue_stops_receiving_and_returns_buffered_then_empty():
    q = Queue("job:run")
    assert q.closed is False
    twitter("job:run", "before")
    q.close()
    twitter("job:run", "after")

    assert q.closed is True
    assert q.get_nowait().args == ("before",)
    with pytest.raises(Empty):
        q.get_nowait()


def test_get_on_a_closed_empty_queue_never_blocks():
    q = Queue("job:run")
    q.close()
    with pytest.raises(Empty):
        run_with_deadline(q.get)  # block=True, no timeout


def test_closed_shared_queue_stops_receiving_while_its_partner_goes_on():
    closing, staying = Queue("job:run", shared=True), Queue("job:run", shared=True)
    closing.close()
    sent = twitter("job:run")
    with pytest.raises(Empty):
        closing.get_nowait()
    assert staying.get_nowait().uid == sent.uid


def test_closed_lone_shared_queue_returns_what_is_buffered_then_empty():
    q = Queue("job:run", shared=True)
    sent = twitter("job:run")
    q.close()
    twitter("job:run")
    assert q.get_nowait().uid == sent.uid
    with pytest.raises(Empty):
        q.get_nowait()


def test_shared_queues_with_equal_identifiers_share():
    first, second = Queue("job", shared=True), Queue("job:*", shared=True)
    twitter("job:run")
    first.get_nowait()
    with pytest.raises(Empty):
        second.get_nowait()


@pytest.mark.parametrize("shared", [False, True], ids=["standalone", "shared"])
def test_close_wakes_a_blocked_get(shared):
    q = Queue("job:run", shared=shared)
    closer = threading.Timer(0.1, q.close)
    closer.start()
    try:
        with pytest.raises(Empty):
            run_with_deadline(q.get)
    finally:
        closer.join(DEADLINE)


def test_queue_is_a_context_manager_that_closes():
    with Queue("job:run") as q:
        twitter("job:run")
        assert q.qsize() == 1
    assert q.closed
    twitter("job:run")
    assert q.qsize() == 1  # only the message buffered before close


def test_garbage_collected_queue_stops_receiving():
    errors_before = default_dispatcher.error_count
    q = Queue("job:gone")
    twitter("job:gone")
    ref = weakref.ref(q)
    del q
    gc.collect()
    assert ref() is None, "the dispatcher keeps the queue alive"

    twitter("job:gone")
    assert default_dispatcher.error_count == errors_before
    assert not [line for line in show_followers() if "job:gone" in line]


def test_short_lived_queues_leave_no_memory_behind_without_sends():
    assert memory_growth(lambda: Queue("job:gone")) < 1_000_000


def test_closed_queues_leave_no_memory_behind():
    def open_and_close():
        Queue("job:gone").close()

    assert memory_growth(open_and_close) < 1_000_000


# -- asyncio ---------------------------------------------------------------


async def test_aget_returns_a_buffered_message():
    q = Queue("job:run")
    sent = twitter("job:run")
    received = await asyncio.wait_for(q.aget(), DEADLINE)
    assert received.uid == sent.uid


async def test_aget_with_timeout_raises_empty():
    q = Queue("job:run")
    with pytest.raises(Empty):
        await asyncio.wait_for(q.aget(timeout=0.1), DEADLINE)


async def test_aget_is_woken_by_a_twitter_from_another_thread():
    q = Queue("job:run")
    sender = threading.Timer(0.1, twitter, args=("job:run", "late"))
    sender.start()
    try:
        message = await asyncio.wait_for(q.aget(), DEADLINE)
    finally:
        sender.join(DEADLINE)
    assert message.args == ("late",)


async def test_cancelled_aget_loses_no_message():
    q = Queue("job:run")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(q.aget(), 0.05)

    sent = twitter("job:run", "after-cancel")
    # Leave time for a waiter leaked by the cancelled aget to steal the message.
    await asyncio.sleep(0.2)

    assert q.qsize() == 1
    assert q.get_nowait().uid == sent.uid


async def test_aget_on_a_closed_queue_raises_empty():
    q = Queue("job:run")
    q.close()
    with pytest.raises(Empty):
        await asyncio.wait_for(q.aget(), DEADLINE)


class CountingLoop(asyncio.SelectorEventLoop):
    """A real event loop that counts how often other threads hand it a callback."""

    handed = 0

    def call_soon_threadsafe(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).handed += 1
        return super().call_soon_threadsafe(*args, **kwargs)


def test_a_message_to_many_awaiting_queues_wakes_their_loop_once_not_once_per_queue():
    # 200 queue connections of one ASGI process, say, each awaited by a long poll; a thread
    # puts into all of them while the loop is busy: one hand-over to the loop, not 200.
    from berrymq_django.core.message import Message
    from berrymq_django.core.store import QueueStore

    stores = [QueueStore() for _ in range(200)]
    message = Message("wake:up", (), None, "here")

    async def run() -> list[Message]:
        waits = [asyncio.ensure_future(store.aget(5)) for store in stores]
        await asyncio.sleep(0)  # every consumer waits now
        assert all(store.waiting == 1 for store in stores)
        putter = threading.Thread(target=lambda: [store.put(message) for store in stores])
        CountingLoop.handed = 0
        putter.start()
        putter.join()  # the loop is blocked meanwhile: every put comes before it runs
        return await asyncio.wait_for(asyncio.gather(*waits), DEADLINE)

    loop = CountingLoop()
    try:
        got = loop.run_until_complete(run())
    finally:
        loop.close()
    assert got == [message] * 200
    assert CountingLoop.handed == 1


def test_a_loop_wakes_its_awaiting_consumers_a_slice_per_turn():
    # 1,000 long polls woken by one message: the loop answers them WAKE_SLICE at a time,
    # never holding a callback per consumer at once; every one of them is woken.
    from berrymq_django.core.message import Message
    from berrymq_django.core.store import WAKE_SLICE, QueueStore

    stores = [QueueStore() for _ in range(1000)]
    message = Message("wake:up", (), None, "here")

    async def run() -> tuple[list[Message], list[int]]:
        waits = [asyncio.ensure_future(store.aget(5)) for store in stores]
        await asyncio.sleep(0)
        woken: list[int] = []

        async def count_each_turn() -> None:
            while not woken or woken[-1] < len(waits):
                woken.append(sum(wait.done() for wait in waits))
                await asyncio.sleep(0)

        counter = asyncio.ensure_future(count_each_turn())
        for store in stores:
            store.put(message)
        got = await asyncio.wait_for(asyncio.gather(*waits), DEADLINE)
        await asyncio.wait_for(counter, DEADLINE)
        return got, woken

    got, woken = asyncio.run(run())
    assert got == [message] * 1000
    steps = [after - before for before, after in itertools.pairwise(woken)]
    assert max(steps) <= WAKE_SLICE, woken
    assert woken[-1] == 1000


def test_an_event_loop_that_awaited_a_queue_is_collected_once_closed():
    from berrymq_django.core.message import Message
    from berrymq_django.core.store import QueueStore

    store = QueueStore()

    async def wait_once() -> Message:
        waiting = asyncio.ensure_future(store.aget(5))
        await asyncio.sleep(0)
        store.put(Message("loop:gone", (), None, "here"))
        return await waiting

    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(wait_once()).id == "loop:gone"
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None  # nothing the store's wake-ups keep holds it
