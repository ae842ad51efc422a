"""Message attributes, uniqueness of uids (also across fork) and the JSON round trip."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import time
import warnings

import pytest

from berrymq_django import Identifier, Message
from berrymq_django.core.dispatcher import Dispatcher

from . import DEADLINE, Recorder


def test_twitter_returns_a_message_with_the_identifier_as_sent():
    message = Dispatcher().twitter("do_something:log")
    assert isinstance(message, Message)
    assert message.id == "do_something:log"
    assert message.identifier == Identifier("do_something:log")


def test_id_keeps_a_name_only_identifier_as_sent():
    message = Dispatcher().twitter("do_something")
    assert message.id == "do_something"
    assert message.identifier == Identifier("do_something:*")


def test_name_and_action_are_strings():
    message = Dispatcher().twitter("do_something:log")
    assert (message.name, message.action) == ("do_something", "log")


def test_args_are_a_tuple_and_kwargs_a_dict():
    message = Dispatcher().twitter("a:b", 1, [2], key="v")
    assert message.args == (1, [2])
    assert isinstance(message.args, tuple)
    assert message.kwargs == {"key": "v"}
    assert isinstance(message.kwargs, dict)


def test_message_without_arguments_has_empty_args_and_kwargs():
    message = Dispatcher().twitter("a:b")
    assert message.args == ()
    assert message.kwargs == {}


def test_follower_receives_the_message_that_twitter_returns():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("a:b", rec.fn)
    message = dispatcher.twitter("a:b", 1)
    (received,) = rec.messages
    assert received.uid == message.uid
    assert received.args == (1,)


def test_uid_is_a_unique_string():
    dispatcher = Dispatcher()
    uids = [dispatcher.twitter("a:b").uid for _ in range(10_000)]
    assert all(isinstance(uid, str) and uid for uid in uids)
    assert len(set(uids)) == 10_000


def test_uids_are_unique_across_two_dispatchers():
    first, second = Dispatcher(), Dispatcher()
    uids = {first.twitter("a:b").uid for _ in range(500)}
    uids |= {second.twitter("a:b").uid for _ in range(500)}
    assert len(uids) == 1000


def _send_uids_from_child(dispatcher, conn, count):
    conn.send([dispatcher.twitter("a:b").uid for _ in range(count)])
    conn.close()


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
def test_forked_child_makes_uids_distinct_from_the_parent():
    dispatcher = Dispatcher()
    before = [dispatcher.twitter("a:b").uid for _ in range(100)]  # advance any counter state
    ctx = multiprocessing.get_context("fork")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a multi-threaded process; harmless here.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = ctx.Process(target=_send_uids_from_child, args=(dispatcher, child_conn, 1000))
        child.start()
    child_conn.close()
    try:
        assert parent_conn.poll(DEADLINE), "child sent no uids"
        child_uids = parent_conn.recv()
    finally:
        child.join(DEADLINE)
    parent_uids = before + [dispatcher.twitter("a:b").uid for _ in range(1000)]

    assert child.exitcode == 0
    assert len(set(child_uids)) == 1000
    assert not set(child_uids) & set(parent_uids)


def test_origin_is_the_dispatcher_node_name():
    assert Dispatcher(node_name="node-a").twitter("a:b").origin == "node-a"


def test_default_node_name_is_hostname_and_pid():
    dispatcher = Dispatcher()
    assert dispatcher.node_name == f"{socket.gethostname()}-{os.getpid()}"
    assert dispatcher.twitter("a:b").origin == dispatcher.node_name


def test_timestamp_is_the_send_time():
    before = time.time()
    message = Dispatcher().twitter("a:b")
    after = time.time()
    assert isinstance(message.timestamp, float)
    assert before - 1 <= message.timestamp <= after + 1


def test_apply_calls_a_function_with_args_and_kwargs():
    message = Dispatcher().twitter("a:b", 1, 2, key="v")
    assert message.apply(lambda *args, **kwargs: (args, kwargs)) == ((1, 2), {"key": "v"})


def test_to_dict_holds_the_documented_keys():
    data = Dispatcher().twitter("a:b", 1).to_dict()
    assert {"id", "args", "kwargs", "uid", "origin", "timestamp"} <= set(data)


def test_to_dict_from_dict_round_trips_through_json():
    original = Dispatcher(node_name="node-a").twitter("order@shop:paid", 1, "two", [3], amount=4.5)
    restored = Message.from_dict(json.loads(json.dumps(original.to_dict())))

    assert isinstance(restored, Message)
    assert restored.id == original.id
    assert restored.identifier == original.identifier
    assert (restored.name, restored.action) == ("order", "paid")
    assert restored.args == (1, "two", [3])
    assert isinstance(restored.args, tuple)
    assert restored.kwargs == {"amount": 4.5}
    assert restored.uid == original.uid
    assert restored.origin == "node-a"
    assert restored.timestamp == original.timestamp


def test_a_twittered_message_has_every_slot_set():
    # twitter() builds its Message without calling the class (the hot path): a slot
    # added to Message must be set there too.
    sent = Dispatcher(node_name="here").twitter("order:paid", 1, total=2)
    built = Message("order:paid", (1,), {"total": 2}, "here")
    for slot in Message.__slots__:  # an unset slot raises AttributeError
        assert getattr(sent, slot) == getattr(built, slot) or slot in ("timestamp", "_uid"), slot
    assert sent.timestamp == pytest.approx(built.timestamp, abs=60)
    assert (sent.kwargs, sent.reply_to) == ({"total": 2}, None)
    assert sent.uid != built.uid
