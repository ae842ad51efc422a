"""With ATOMIC_REQUESTS, what the endpoint answers is what the database keeps.

A failure that becomes a JSON-RPC error leaves no writes behind, as DRF's
exception handler does with ``set_rollback()``: a call's failure undoes that
call's writes (each call runs in a savepoint, so the other calls of a batch
keep theirs), and a refusal by an authenticator, permission or throttle
undoes what it wrote before refusing. These tests need real commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.permissions import BasePermission

from berrymq_django import Message, register_function
from example_project.shop.models import Product

from .conftest import berrymq_config
from .helpers import FORBIDDEN, INTERNAL_ERROR, KEY_B, body, call, error, post, result, rpc

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)


def names() -> list[str]:
    """The rows the tests wrote (their names have a colon, or are "audit")."""
    written = Product.objects.filter(name__contains=":") | Product.objects.filter(name="audit")
    return sorted(written.values_list("name", flat=True))


def write_row(message: Message) -> None:
    """A follower that records the message as a row."""
    Product.objects.create(name=message.id, price=Decimal("1.00"))


def write_row_then_fail(message: Message) -> None:
    write_row(message)
    raise RuntimeError("the follower failed after writing")


@pytest.fixture
def followers() -> None:
    register_function("kept:*", write_row)
    register_function("failed:*", write_row_then_fail)


class AuditThenDeny(BasePermission):
    """Record every attempt, then refuse it."""

    def has_permission(self, request: Any, view: Any) -> bool:
        Product.objects.create(name="audit", price=Decimal("0"))
        return False


class AuditThenCrash(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        Product.objects.create(name="audit", price=Decimal("0"))
        raise RuntimeError("the permission check crashed after writing")


def test_a_failed_call_leaves_no_row(client: Client, followers: None, oneway_token: str):
    with berrymq_config(RAISE_ERRORS=True):
        response = rpc(client, "send_message", [oneway_token, "failed:one"])

    assert error(response)["code"] == INTERNAL_ERROR
    assert names() == []


def test_a_failed_talk_leaves_no_row(client: Client, followers: None, oneway_token: str):
    with berrymq_config(RAISE_ERRORS=True):
        response = rpc(client, "talk", [oneway_token, "failed:ask", "kept:answer"])

    assert error(response)["code"] == INTERNAL_ERROR
    assert names() == []


def test_a_result_no_json_can_hold_leaves_no_row(client: Client, oneway_token: str):
    def write_row_then_answer_circular(message: Message) -> list:
        write_row(message)
        loop: list = []
        loop.append(loop)
        return loop

    register_function("odd:ask", write_row_then_answer_circular)

    response = rpc(client, "talk", [oneway_token, "odd:ask", "odd:back"])

    assert error(response)["code"] == INTERNAL_ERROR
    assert names() == []


def test_a_batch_keeps_the_rows_of_the_calls_that_succeeded(
    client: Client, followers: None, oneway_token: str
):
    batch = [
        call("send_message", [oneway_token, "kept:first"], 1),
        call("send_message", [oneway_token, "failed:second"], 2),
        call("send_message", [oneway_token, "kept:third"], 3),
    ]
    with berrymq_config(RAISE_ERRORS=True):
        answers = body(post(client, batch))

    assert [a.get("result") for a in answers] == ["ok", None, "ok"]
    assert answers[1]["error"]["code"] == INTERNAL_ERROR
    assert names() == ["kept:first", "kept:third"]


def test_a_call_answered_ok_keeps_its_rows(client: Client, followers: None, oneway_token: str):
    """Without RAISE_ERRORS a follower's failure is logged and counted: the call succeeded."""
    response = rpc(client, "send_message", [oneway_token, "failed:one"])

    assert result(response) == "ok"
    assert names() == ["failed:one"]


def test_a_refusal_leaves_no_row(client: Client):
    with berrymq_config(PERMISSION_CLASSES=[AuditThenDeny]):
        response = rpc(client, "status", [])

    assert response.status_code == 403
    assert body(response)["error"]["code"] == FORBIDDEN
    assert names() == []


def test_a_crash_answered_500_leaves_no_row(client: Client):
    with berrymq_config(PERMISSION_CLASSES=[AuditThenCrash]):
        response = rpc(client, "status", [])

    assert response.status_code == 500
    assert body(response)["error"]["code"] == INTERNAL_ERROR
    assert names() == []


def test_without_atomic_requests_calls_are_not_wrapped(
    client: Client, followers: None, oneway_token: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", False)
    with berrymq_config(RAISE_ERRORS=True):
        response = rpc(client, "send_message", [oneway_token, "failed:one"])

    assert error(response)["code"] == INTERNAL_ERROR
    assert names() == ["failed:one"]  # autocommit: written before the failure


# -- over a real HTTP server --------------------------------------------------------


@pytest.fixture
def http(live_server) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(headers={"Authorization": f"Bearer {KEY_B}"}, timeout=10.0) as client:
        yield client, live_server.url + reverse("berrymq:rpc")


def test_a_batch_over_http(http: tuple[httpx.Client, str], followers: None):
    client, endpoint = http
    with berrymq_config(RAISE_ERRORS=True):
        token = client.post(endpoint, json=call("connect_oneway", [60])).json()["result"]
        answers = client.post(
            endpoint,
            json=[
                call("send_message", [token, "failed:first"], 1),
                call("send_message", [token, "kept:second"], 2),
            ],
        ).json()

    assert [a.get("result") for a in answers] == [None, "ok"]
    assert names() == ["kept:second"]
