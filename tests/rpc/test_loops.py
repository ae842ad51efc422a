"""A message never comes back to the site it started at, whoever sent it there.

In a mesh of interconnected sites a message may reach a site twice: once
directly, once through another peer. The site answers the second copy as a
duplicate: by its uid (one it gave the message itself, when the sender gave
none), or by its origin when the message started at this site.
"""

from __future__ import annotations

from collections.abc import Callable

from django.test import Client

from berrymq_django import Message

from .helpers import NODE_NAME, result, rpc

Follow = Callable[[str], list[Message]]


def test_a_message_that_started_here_is_not_delivered_again(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("*")

    assert result(rpc(client, "send_message", [oneway_token, "a:b", [1], {}, None, NODE_NAME]))
    batch = [{"id": "a:b", "origin": NODE_NAME, "uid": "u-1"}, {"id": "a:c", "origin": "other"}]
    counts = result(rpc(client, "send_messages", [oneway_token, batch]))

    assert [m.id for m in received] == ["a:c"]
    assert counts == {"accepted": 1, "duplicates": 1}


def test_a_message_sent_without_a_uid_gets_one_and_its_copies_are_duplicates(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("*")
    result(rpc(client, "send_message", [oneway_token, "order:created", [7]]))
    (first,) = received
    assert first.uid

    # The copy a peer sends back, with the uid this site gave it.
    back = [{"id": "order:created", "args": [7], "uid": first.uid, "origin": "rpc:site-b"}]
    counts = result(rpc(client, "send_messages", [oneway_token, back]))

    assert counts == {"accepted": 0, "duplicates": 1}
    assert len(received) == 1


def test_messages_of_a_batch_without_uids_are_each_delivered_once(
    client: Client, oneway_token: str, follow: Follow
):
    received = follow("*")
    batch = [{"id": "order:created", "args": [i]} for i in range(3)]

    counts = result(rpc(client, "send_messages", [oneway_token, batch]))

    assert counts == {"accepted": 3, "duplicates": 0}
    assert len({m.uid for m in received}) == 3
