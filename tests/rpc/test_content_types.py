"""The body is JSON whatever the Content-Type says, for key holders and browser sessions alike.

A browser tool posts with a staff session and the CSRF token in the
``X-CSRFToken`` header; DRF's CSRF check looks for a form token in
``request.POST`` first, which must not make the endpoint refuse the media
type. Each media type below is one that a browser, curl, a JSON-RPC library
or berryMQ 0.3's client sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from .helpers import FORBIDDEN, KEY_B, body, post_raw, result

STATUS = b'{"jsonrpc": "2.0", "method": "status", "id": 1}'
CSRF_SECRET = "s" * 32  # what the csrftoken cookie holds; the header repeats it

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/json-rpc",
    "application/jsonrequest",
    "text/plain",  # fetch() with a string body and no header
    "text/plain;charset=UTF-8",
    "text/xml",  # berryMQ 0.3's client (Python's xmlrpc Transport)
    "application/x-www-form-urlencoded",  # curl -d
    "application/octet-stream",
    "",
]


@pytest.fixture
def staff(db) -> Client:
    """A test Client enforcing CSRF, logged in as staff, holding a csrftoken cookie."""
    client = Client(enforce_csrf_checks=True)
    user = get_user_model().objects.create_user("ada", password="pw", is_staff=True)
    client.force_login(user)
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
    return client


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_staff_session_with_a_csrf_token_is_served(staff: Client, content_type: str):
    response = post_raw(
        staff, STATUS, key=None, content_type=content_type, headers={"X-CSRFToken": CSRF_SECRET}
    )

    assert result(response)["node"]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_staff_session_without_the_csrf_token_is_403(staff: Client, content_type: str):
    response = post_raw(staff, STATUS, key=None, content_type=content_type)

    assert response.status_code == 403, response.content[:300]
    obj = body(response)
    assert obj["error"]["code"] == FORBIDDEN, obj
    assert "CSRF" in obj["error"]["message"], obj


def test_a_wrong_csrf_token_is_403(staff: Client):
    response = post_raw(staff, STATUS, key=None, headers={"X-CSRFToken": "t" * 32})

    assert response.status_code == 403
    assert body(response)["error"]["code"] == FORBIDDEN


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_api_key_with_any_content_type(client: Client, content_type: str):
    assert result(post_raw(client, STATUS, content_type=content_type))["node"]


# -- over a real HTTP server --------------------------------------------------------


@pytest.fixture
def endpoint(live_server) -> str:
    return live_server.url + reverse("berrymq:rpc")


@pytest.fixture
def browser(live_server, transactional_db) -> Iterator[httpx.Client]:
    """An HTTP client that behaves as a page of the site calling fetch() with a staff session."""
    django_client = Client()
    django_client.force_login(
        get_user_model().objects.create_user("ada", password="pw", is_staff=True)
    )
    cookies = {
        settings.SESSION_COOKIE_NAME: django_client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: CSRF_SECRET,
    }
    with httpx.Client(cookies=cookies, headers={"Origin": live_server.url}, timeout=10.0) as client:
        yield client


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "text/plain"]
)
def test_staff_session_over_http(browser: httpx.Client, endpoint: str, content_type: str):
    with_token = browser.post(
        endpoint,
        content=STATUS,
        headers={"Content-Type": content_type, "X-CSRFToken": CSRF_SECRET},
    )
    without = browser.post(endpoint, content=STATUS, headers={"Content-Type": content_type})

    assert with_token.status_code == 200, with_token.text[:300]
    assert with_token.json()["result"]["node"]
    assert without.status_code == 403, without.text[:300]
    assert without.json()["error"]["code"] == FORBIDDEN


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_api_key_over_http_with_any_content_type(endpoint: str, content_type: str):
    response = httpx.post(
        endpoint,
        content=STATUS,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {KEY_B}"},
    )

    assert response.status_code == 200, response.text[:300]
    assert response.json()["result"]["node"]
