"""Follower groups in the core: the API, one process, and the transport contract.

With a transport that does not distribute groups (the in-memory default),
a grouped follower runs like any other: once per message, in this process.
With one that does (``distributes_groups``), routes leave grouped followers
out and the transport is told which groups this process serves; it then
calls ``receive_group`` in one process per message.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from berrymq_django import Follower, FollowerMixin, following, following_function
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.exceptions import FollowerFailed
from berrymq_django.core.identifier import Identifier
from berrymq_django.core.local import LocalBackend
from berrymq_django.core.message import Message

from . import Recorder


class GroupingBackend(LocalBackend):
    """One process standing in for a deployment: it hands grouped messages back here."""

    distributes_groups = True
    forwards = True

    def __init__(self) -> None:
        self.joined: list[tuple[str, str]] = []
        self.left: list[tuple[str, str]] = []
        self.published: list[Message] = []

    def bind(self, inbox: Any) -> None:
        self.inbox = inbox

    def publish(self, message: Message) -> None:
        self.published.append(message)

    def join_group(self, group: str, pattern: Identifier) -> None:
        self.joined.append((group, pattern.text))

    def leave_group(self, group: str, pattern: Identifier) -> None:
        self.left.append((group, pattern.text))


def test_a_grouped_follower_runs_once_per_message_in_one_process():
    dispatcher = Dispatcher()
    grouped, plain = Recorder(), Recorder()
    dispatcher.register_function("order:created", grouped.fn, group="stock")
    dispatcher.register_function("order:created", plain.fn)
    dispatcher.twitter("order:created", 1)
    assert grouped.count == 1
    assert plain.count == 1


def test_show_followers_names_the_group():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:*", Recorder().fn, group="audit")
    (line,) = dispatcher.show_followers()
    assert line.endswith("(function) [group audit]")
    assert dispatcher.groups() == {"audit": ["order:*"]}


@pytest.mark.parametrize("bad", ["", "has space", "x" * 101, 42, "ünï"])
def test_a_bad_group_name_is_refused_naming_it(bad):
    dispatcher = Dispatcher()
    with pytest.raises(ValueError, match="follower group") as caught:
        dispatcher.register_function("a:b", Recorder().fn, group=bad)
    assert repr(bad) in str(caught.value)
    with pytest.raises(ValueError, match="follower group"):
        following_function("a:b", group=bad)


def test_decorators_and_follower_classes_take_a_group(berrymq_dispatcher):
    @following_function("shop:*", group="mail")
    def plain(message):
        pass

    class Mailer(metaclass=Follower):
        @following("*:created", group="mail")
        def welcome(self, message):
            pass

    class Packer(FollowerMixin):
        @following("order:paid", group="pack")
        def pack(self, message):
            pass

    mailer, packer = Mailer(), Packer()
    assert berrymq_dispatcher.groups() == {
        "mail": ["shop:*", "*:created"],
        "pack": ["order:paid"],
    }
    del mailer, packer


def test_a_distributing_transport_takes_grouped_followers_out_of_routes():
    backend = GroupingBackend()
    dispatcher = Dispatcher(backend=backend)
    grouped, plain = Recorder(), Recorder()
    dispatcher.register_function("order:*", grouped.fn, group="stock")
    dispatcher.register_function("order:*", plain.fn)
    assert backend.joined == [("stock", "order:*")]

    message = dispatcher.twitter("order:created")
    assert grouped.count == 0  # the transport runs it, in one process
    assert plain.count == 1
    assert backend.published == [message]

    assert dispatcher.receive_group("stock", message) == 1
    assert grouped.messages == [message]
    assert dispatcher.receive_group("other", message) == 0


def test_joins_once_per_group_and_pattern_and_leaves_after_the_last_member():
    backend = GroupingBackend()
    dispatcher = Dispatcher(backend=backend)
    first, second = Recorder(), Recorder()
    dispatcher.register_function("order:*", first.fn, group="stock")
    dispatcher.register_function("order:*", second.fn, group="stock")
    assert backend.joined == [("stock", "order:*")]
    dispatcher.unregister(first.fn)
    assert backend.left == []
    dispatcher.unregister(second.fn)
    assert backend.left == [("stock", "order:*")]


def test_a_collected_group_member_leaves_its_group():
    backend = GroupingBackend()
    dispatcher = Dispatcher(backend=backend)

    class Service:
        def on(self, message: Message) -> None:
            pass

    service = Service()
    dispatcher.register_method("order:*", service.on, group="svc")
    del service
    gc.collect()
    dispatcher.twitter("order:created")  # the lazy sweep
    assert backend.left == [("svc", "order:*")]


def test_receive_group_contains_a_failure_and_reports_it_for_a_retry():
    dispatcher = Dispatcher(backend=GroupingBackend(), raise_errors=True)
    later = Recorder()

    def failing(message: Message) -> None:
        raise RuntimeError("reservation failed")

    dispatcher.register_function("order:*", failing, group="stock")
    dispatcher.register_function("order:*", later.fn, group="stock")
    message = Message("order:created", (), {}, "elsewhere")
    with pytest.raises(FollowerFailed) as caught:
        dispatcher.receive_group("stock", message)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert later.count == 1
    assert dispatcher.error_count == 1


def test_a_grouped_talk_request_is_answered_by_the_process_that_takes_it():
    dispatcher = Dispatcher(backend=GroupingBackend())
    replies = Recorder()
    dispatcher.register_function("price:quote", lambda m: 42, group="pricing")
    dispatcher.register_function("price:quoted", replies.fn)
    request = Message("price:quote", (), {}, "elsewhere", reply_to="price:quoted")
    dispatcher.receive_group("pricing", request)
    assert [m.args for m in replies.messages] == [(42,)]
    assert replies.messages[0].kwargs == {"in_reply_to": request.uid}


def test_a_new_backend_learns_the_groups_of_this_process():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:*", Recorder().fn, group="stock")
    backend = GroupingBackend()
    dispatcher.configure(backend=backend)
    assert backend.joined == [("stock", "order:*")]


def test_failed_carries_the_group_and_identifier():
    error = FollowerFailed("stock", "order:created", ValueError("x"))
    assert (error.group, error.identifier) == ("stock", "order:created")
    assert "stock" in str(error) and "order:created" in str(error)


def test_a_local_message_runs_grouped_followers_here_even_when_the_transport_distributes():
    """A "_name" message never leaves the process: no other process could run its group."""
    backend = GroupingBackend()
    dispatcher = Dispatcher(backend=backend)
    grouped = Recorder()
    dispatcher.register_function("*:tick", grouped.fn, group="clock")
    dispatcher.twitter("_timer:tick")
    assert grouped.count == 1
    assert backend.published == []
    dispatcher.twitter("timer:tick")  # non-local: the transport runs it, in one process
    assert grouped.count == 1


def test_wants_says_whether_a_message_from_elsewhere_would_reach_anything_here():
    backend = GroupingBackend()
    dispatcher = Dispatcher(backend=backend)
    dispatcher.register_function("order:*", Recorder().fn, group="stock")
    dispatcher.register_function("user:*", Recorder().fn)
    assert dispatcher.wants("user:created")
    assert not dispatcher.wants("order:created")  # its group's transport takes it
    assert not dispatcher.wants("nobody:here")
    assert not dispatcher.wants("not an identifier")
    assert Dispatcher().wants("nobody:here") is False


def test_receive_group_finds_members_that_joined_or_left_since_the_last_message():
    # Which members follow an identifier is cached: every subscribe and unsubscribe
    # must drop that cache, or the newcomer never runs and the one gone still does.
    dispatcher = Dispatcher(backend=GroupingBackend())
    first, second = Recorder(), Recorder()
    dispatcher.register_function("order:created", first.fn, group="stock")
    assert dispatcher.receive_group("stock", Message.create("order:created", 1)) == 1
    dispatcher.register_function("order:*", second.fn, group="stock")
    assert dispatcher.receive_group("stock", Message.create("order:created", 2)) == 2
    assert dispatcher.unregister(first.fn)
    assert dispatcher.receive_group("stock", Message.create("order:created", 3)) == 1
    assert [m.args for m in first.messages] == [(1,), (2,)]
    assert [m.args for m in second.messages] == [(2,), (3,)]
    with dispatcher.isolate():
        assert dispatcher.receive_group("stock", Message.create("order:created", 4)) == 0
    assert dispatcher.receive_group("stock", Message.create("order:created", 5)) == 1
    assert dispatcher.receive_group("other", Message.create("order:created", 6)) == 0
