"""The example project's demo page: twitter, follow, queue and drain through HTTP."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from example_project.demo import receivers, views

# The page shows the followers and queue that autodiscovery registered at startup.
pytestmark = pytest.mark.berrymq_shared


@pytest.fixture
def empty_inbox(client: Client) -> None:
    """Drain the demo queue first: earlier tests share it."""
    client.post(reverse("demo:drain"))
    assert receivers.inbox.qsize() == 0


def test_home_page_shows_the_demo(client: Client) -> None:
    response = client.get(reverse("demo:home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "berryMQ demo" in page
    assert "csrfmiddlewaretoken" in page
    assert "demo.receivers.log_demo_message" in page  # show_followers() output


@pytest.mark.usefixtures("empty_inbox")
def test_twitter_button_reaches_followers_and_queue(client: Client) -> None:
    clicks = receivers.click_counter.count
    response = client.post(reverse("demo:click"), {"text": "hello berry"})
    assert response.status_code == 302
    assert response.url == reverse("demo:home")

    page = client.get(response.url)
    assert page.status_code == 200
    assert receivers.click_counter.count == clicks + 1
    assert page.context["click_count"] == clicks + 1
    assert "demo:clicked" in receivers.received[-1]
    assert "'hello berry'" in receivers.received[-1]
    assert escape(receivers.received[-1]) in page.content.decode()
    assert page.context["pending"] == 1


@pytest.mark.usefixtures("empty_inbox")
def test_drain_button_empties_the_queue(client: Client) -> None:
    client.post(reverse("demo:click"), {"text": "first"})
    client.post(reverse("demo:click"), {"text": "second"})
    assert receivers.inbox.qsize() == 2

    response = client.post(reverse("demo:drain"))
    assert response.status_code == 302
    assert receivers.inbox.qsize() == 0

    page = client.get(reverse("demo:home"))
    assert page.context["pending"] == 0
    drained = list(views.drained)[-2:]
    assert "'first'" in drained[0]
    assert "'second'" in drained[1]
    assert all(escape(line) in page.content.decode() for line in drained)


def test_get_does_not_consume_the_queue(client: Client) -> None:
    client.post(reverse("demo:click"), {"text": "stay"})
    pending = receivers.inbox.qsize()
    client.get(reverse("demo:home"))
    assert receivers.inbox.qsize() == pending


def test_buttons_only_accept_post(client: Client) -> None:
    assert client.get(reverse("demo:click")).status_code == 405
    assert client.get(reverse("demo:drain")).status_code == 405


def test_too_long_text_is_rejected_and_not_sent(client: Client) -> None:
    clicks = receivers.click_counter.count
    response = client.post(reverse("demo:click"), {"text": "x" * 201})
    assert response.status_code == 400
    assert receivers.click_counter.count == clicks
