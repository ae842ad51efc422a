"""atwitter() and async followers, from async and from sync code."""

from __future__ import annotations

import asyncio
import logging

from berrymq_django import (
    FollowerMixin,
    Message,
    Queue,
    atwitter,
    following,
    register_function,
)
from berrymq_django.core.dispatcher import Dispatcher

from . import DEADLINE, Recorder


def make_async_follower(log, tag):
    async def follower(message):
        await asyncio.sleep(0.01)  # really suspends, so an un-awaited call would show
        log.append(tag)

    return follower


def make_sync_follower(log, tag):
    def follower(message):
        log.append(tag)

    return follower


async def test_atwitter_awaits_async_followers():
    dispatcher = Dispatcher()
    log = []
    dispatcher.register_function("a:b", make_async_follower(log, "async"))
    message = await dispatcher.atwitter("a:b", 1)
    assert log == ["async"]
    assert isinstance(message, Message)
    assert message.args == (1,)


async def test_atwitter_calls_sync_followers():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("a:b", rec.fn)
    message = await dispatcher.atwitter("a:b")
    assert [m.uid for m in rec.messages] == [message.uid]


async def test_atwitter_preserves_registration_order():
    dispatcher = Dispatcher()
    log = []
    tags = ["async-1", "sync-2", "sync-3", "async-4", "async-5", "sync-6", "sync-7"]
    for tag in tags:
        make = make_async_follower if tag.startswith("async") else make_sync_follower
        dispatcher.register_function("a:b", make(log, tag))
    await dispatcher.atwitter("a:b")
    assert log == tags


async def test_atwitter_without_followers_returns_the_message():
    message = await Dispatcher().atwitter("nobody:listens")
    assert message.id == "nobody:listens"


async def test_atwitter_failing_async_follower_does_not_stop_the_others(caplog):
    dispatcher = Dispatcher()
    log = []

    async def failing(message):
        raise RuntimeError("async follower exploded")

    dispatcher.register_function("a:b", failing)
    dispatcher.register_function("a:b", make_async_follower(log, "after"))
    with caplog.at_level(logging.DEBUG, logger="berrymq"):
        await dispatcher.atwitter("a:b")
    assert log == ["after"]
    assert dispatcher.error_count == 1
    assert [r for r in caplog.records if r.name == "berrymq"]


async def test_atwitter_honours_guard_conditions():
    dispatcher = Dispatcher()
    log = []
    dispatcher.register_function(
        "a:b", make_async_follower(log, "guarded"), guard_condition=lambda m: False
    )
    dispatcher.register_function("a:b", make_async_follower(log, "open"))
    await dispatcher.atwitter("a:b")
    assert log == ["open"]


async def test_atwitter_reaches_queues():
    q = Queue("a:b")
    message = await atwitter("a:b", 1)
    received = await asyncio.wait_for(q.aget(), DEADLINE)
    assert received.uid == message.uid


async def test_atwitter_reaches_async_follower_methods():
    received = []

    class Service(FollowerMixin):
        @following("a:b")
        async def on_message(self, message):
            await asyncio.sleep(0)
            received.append(message.id)

    _service = Service()
    await atwitter("a:b")
    assert received == ["a:b"]


async def test_module_level_atwitter_uses_the_default_dispatcher():
    log = []
    register_function("a:b", make_async_follower(log, "async"))
    await atwitter("a:b")
    assert log == ["async"]


def test_twitter_from_sync_code_runs_async_followers_to_completion():
    dispatcher = Dispatcher()
    log = []
    dispatcher.register_function("a:b", make_async_follower(log, "async"))
    dispatcher.twitter("a:b")
    assert log == ["async"]


def test_twitter_from_sync_code_preserves_order_with_async_followers():
    dispatcher = Dispatcher()
    log = []
    dispatcher.register_function("a:b", make_sync_follower(log, "sync-1"))
    dispatcher.register_function("a:b", make_async_follower(log, "async-2"))
    dispatcher.register_function("a:b", make_sync_follower(log, "sync-3"))
    dispatcher.twitter("a:b")
    assert log == ["sync-1", "async-2", "sync-3"]


def test_talk_collects_results_of_async_followers():
    dispatcher = Dispatcher()

    async def answer(message):
        await asyncio.sleep(0)
        return "async-answer"

    dispatcher.register_function("q:ask", answer)
    dispatcher.register_function("q:ask", lambda m: "sync-answer")
    assert dispatcher.talk("q:ask", "q:reply") == ["async-answer", "sync-answer"]


def test_a_sync_send_inside_a_running_loop_runs_async_followers_as_the_pool_would():
    """asgiref refuses to run one in the loop's thread: each delivery used to fail there."""
    dispatcher = Dispatcher()
    log = []

    async def answer(message):
        await asyncio.sleep(0)
        log.append("async")
        return "async-answer"

    dispatcher.register_function("q:ask", answer)
    dispatcher.register_function("q:ask", make_sync_follower(log, "sync"))

    async def main():
        dispatcher.twitter("q:ask")  # sync code called from a coroutine
        return dispatcher.talk("q:ask", "q:reply")

    assert asyncio.run(main()) == ["async-answer", None]
    assert log == ["async", "sync", "async", "sync"]
    assert dispatcher.error_count == 0
