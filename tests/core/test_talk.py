"""talk(): call the followers, collect their results, send each result back."""

from __future__ import annotations

import pytest

from berrymq_django import Message, Queue, register_function, talk
from berrymq_django.core.dispatcher import Dispatcher

from . import Recorder


def test_talk_returns_results_in_follower_order():
    dispatcher = Dispatcher()
    for result in ["first", "second", "third"]:
        dispatcher.register_function("price:ask", Recorder(result=result).fn)
    assert dispatcher.talk("price:ask", "price:reply") == ["first", "second", "third"]


def test_talk_passes_args_and_kwargs_to_followers():
    dispatcher = Dispatcher()
    dispatcher.register_function("price:ask", lambda m: m.apply(lambda item, qty=1: (item, qty)))
    assert dispatcher.talk("price:ask", "price:reply", "apple", qty=3) == [("apple", 3)]


def test_each_result_is_sent_to_the_callback_identifier_in_reply_to_the_request():
    dispatcher = Dispatcher()
    request = Recorder(result=42)
    other = Recorder(result="x")
    replies = Recorder()
    dispatcher.register_function("price:ask", request.fn)
    dispatcher.register_function("price:ask", other.fn)
    dispatcher.register_function("price:reply", replies.fn)

    dispatcher.talk("price:ask", "price:reply")

    (asked,) = request.messages
    assert [m.args for m in replies.messages] == [(42,), ("x",)]
    assert [m.kwargs for m in replies.messages] == [{"in_reply_to": asked.uid}] * 2
    assert replies.ids == ["price:reply", "price:reply"]


def test_a_none_result_is_still_a_result():
    dispatcher = Dispatcher()
    replies = Recorder()
    dispatcher.register_function("price:ask", Recorder(result=None).fn)
    dispatcher.register_function("price:reply", replies.fn)
    assert dispatcher.talk("price:ask", "price:reply") == [None]
    assert [m.args for m in replies.messages] == [(None,)]


def test_talk_without_followers_returns_an_empty_list_and_sends_no_reply():
    dispatcher = Dispatcher()
    replies = Recorder()
    dispatcher.register_function("price:reply", replies.fn)
    assert dispatcher.talk("price:ask", "price:reply") == []
    assert replies.count == 0


def test_guarded_out_follower_gives_no_result():
    dispatcher = Dispatcher()
    dispatcher.register_function(
        "price:ask", Recorder(result=1).fn, guard_condition=lambda m: False
    )
    dispatcher.register_function("price:ask", Recorder(result=2).fn)
    assert dispatcher.talk("price:ask", "price:reply") == [2]


def test_queues_on_the_request_identifier_receive_it_but_give_no_result():
    # Queue always uses the default dispatcher, so this uses the module-level talk().
    requests = Queue("price:ask")
    register_function("price:ask", Recorder(result="quote").fn)

    assert talk("price:ask", "price:reply", "apple") == ["quote"]
    assert requests.get_nowait().args == ("apple",)


def test_queues_on_the_callback_identifier_receive_the_replies():
    replies = Queue("price:reply")
    register_function("price:ask", Recorder(result="quote").fn)

    talk("price:ask", "price:reply")

    reply = replies.get_nowait()
    assert reply.args == ("quote",)
    assert "in_reply_to" in reply.kwargs


@pytest.mark.parametrize(
    ("request_id", "callback_id"), [("a::b", "ok:reply"), ("ok:ask", "bad id")]
)
def test_talk_rejects_malformed_identifiers(request_id, callback_id):
    dispatcher = Dispatcher()
    dispatcher.register_function("ok:ask", Recorder(result=1).fn)
    with pytest.raises(ValueError):
        dispatcher.talk(request_id, callback_id)


def test_a_talk_request_from_elsewhere_is_answered_here():
    """A request that arrives from another process or site carries its reply_to."""
    dispatcher = Dispatcher()
    dispatcher.register_function("price:ask", lambda m: m.args[0] * 2)
    replies: list[Message] = []
    dispatcher.register_function("price:quoted", replies.append)
    request = Message("price:ask", (21,), None, "elsewhere", "uid-1", reply_to="price:quoted")

    dispatcher.receive(request)

    assert [(r.args, r.kwargs) for r in replies] == [((42,), {"in_reply_to": "uid-1"})]


def test_reply_to_travels_in_the_wire_form():
    message = Message("price:ask", (1,), None, "here", reply_to="price:quoted")

    assert Message.from_dict(message.to_dict()).reply_to == "price:quoted"
    assert "reply_to" not in Message("a:b", (), None, "here").to_dict()
