"""Who may call the endpoint: API keys, staff sessions, anonymous access, throttling."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, override_settings
from rest_framework.throttling import SimpleRateThrottle

from .conftest import berrymq_config
from .helpers import (
    FORBIDDEN,
    INVALID_TOKEN,
    KEY_B,
    KEY_C,
    THROTTLED,
    TIMEOUT,
    UNAUTHENTICATED,
    body,
    error,
    headers_for,
    post_raw,
    result,
    rpc,
    rpc_url,
)

# Sessions need their middleware; add it where the suite's settings leave it out.
SESSION_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    *[
        m
        for m in settings.MIDDLEWARE
        if m
        not in (
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        )
    ],
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


class TwoPerMinute(SimpleRateThrottle):
    """Two requests a minute for everyone, whoever they are."""

    rate = "2/min"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": "berrymq-tests", "ident": "everyone"}


def assert_refused(response, status: int, code: int) -> dict:
    """Check a refusal: HTTP status and a JSON-RPC 2.0 error body with id null."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    obj = body(response)
    assert set(obj) == {"jsonrpc", "error", "id"}, obj
    assert obj["jsonrpc"] == "2.0"
    assert obj["id"] is None
    assert obj["error"]["code"] == code, obj
    assert isinstance(obj["error"]["message"], str)
    assert obj["error"]["message"]
    return obj["error"]


STATUS = b'{"jsonrpc": "2.0", "method": "status", "id": 1}'

# -- API keys ------------------------------------------------------------------


def test_no_key_is_401_with_a_json_rpc_error(client: Client):
    response = rpc(client, "status", [], key=None)

    assert_refused(response, 401, UNAUTHENTICATED)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_401(client: Client):
    response = rpc(client, "status", [], key="x" * 32)

    assert_refused(response, 401, UNAUTHENTICATED)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    [
        f"Basic {KEY_B}",
        "Bearer",
        "Bearer ",
        f"Bearer {KEY_B} extra",
        f"Bearer {KEY_B[:-1]}",
        f"Bearer {KEY_B}x",
        "Bearer " + "ключ".encode().decode("latin-1"),  # as WSGI decodes it
        f"{KEY_B}",
    ],
)
def test_malformed_authorization_is_401(client: Client, authorization: str):
    response = post_raw(client, STATUS, key=None, headers={"Authorization": authorization})

    assert_refused(response, 401, UNAUTHENTICATED)


@pytest.mark.parametrize(
    "authorization", [f"Bearer {KEY_B},Bearer {KEY_B}", f"Bearer {KEY_B}, bearer wrong"]
)
def test_a_repeated_authorization_header_is_401_saying_so(client: Client, authorization: str):
    # Two Authorization headers reach Django joined with "," (by the WSGI or ASGI server).
    response = post_raw(client, STATUS, key=None, headers={"Authorization": authorization})

    assert_refused(response, 401, UNAUTHENTICATED)
    assert "sent more than once" in response.json()["error"]["message"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("name, key", [("site-b", KEY_B), ("site-c", KEY_C)])
def test_basic_with_a_key_holder_name_and_its_key_is_accepted(client: Client, name, key):
    """As clients that carry credentials in the URL send them (berryMQ 0.3's)."""
    for throttles in ([], [TwoPerMinute]):  # with and without the default classes' short cut
        cache.clear()
        with berrymq_config(THROTTLE_CLASSES=throttles):
            headers = {"Authorization": basic(name, key)}
            response = post_raw(client, STATUS, key=None, headers=headers)
            assert result(response)["node"], throttles


@pytest.mark.parametrize(
    "authorization",
    [
        basic("site-b", KEY_C),  # another holder's key
        basic("site-b", ""),
        basic("nobody", KEY_B),  # not a key holder: no authenticator knows it
        basic("site-b", KEY_B)[:-2],  # broken base64
        f"Basic {KEY_B}",
    ],
)
def test_basic_without_a_matching_key_is_401(client: Client, authorization: str):
    response = post_raw(client, STATUS, key=None, headers={"Authorization": authorization})

    assert_refused(response, 401, UNAUTHENTICATED)


def test_basic_tokens_belong_to_the_key_holder(client: Client):
    token = result(
        post_raw(
            client,
            b'{"jsonrpc": "2.0", "method": "connect_via_queue", "params": ["a:*", 60], "id": 1}',
            key=None,
            headers={"Authorization": basic("site-b", KEY_B)},
        )
    )

    assert error(rpc(client, "get_nowait", [token], key=KEY_B))["code"] == TIMEOUT
    assert error(rpc(client, "get_nowait", [token], key=KEY_C))["code"] == INVALID_TOKEN


def test_each_configured_key_is_accepted(client: Client):
    assert result(rpc(client, "status", [], key=KEY_B))["node"]
    assert result(rpc(client, "status", [], key=KEY_C))["node"]


def test_bearer_scheme_is_case_insensitive(client: Client):
    response = client.post(
        rpc_url(),
        data=b'{"jsonrpc": "2.0", "method": "status", "id": 1}',
        content_type="application/json",
        headers={"Authorization": f"bearer {KEY_B}"},
    )

    assert isinstance(result(response), dict)


def test_no_keys_configured_refuses_everyone(client: Client):
    with berrymq_config(API_KEYS={}):
        assert_refused(rpc(client, "status", [], key=KEY_B), 401, UNAUTHENTICATED)
        assert_refused(rpc(client, "status", [], key=None), 401, UNAUTHENTICATED)


def test_refused_request_does_nothing(client: Client, follow):
    received = follow("*")
    token = result(rpc(client, "connect_oneway", [60]))

    response = rpc(client, "send_message", [token, "a:b"], key=None)

    assert response.status_code == 401
    assert received == []


def test_refusal_comes_before_parsing(client: Client):
    """An anonymous client learns nothing about the body: refused, not told it is bad JSON."""
    assert_refused(post_raw(client, b"{not json", key=None), 401, UNAUTHENTICATED)


# -- sessions ------------------------------------------------------------------


@pytest.fixture
def session_client(db) -> Iterator[Client]:
    """A Client (not enforcing CSRF, as browsers tools send the token) with session middleware."""
    with override_settings(MIDDLEWARE=SESSION_MIDDLEWARE):
        yield Client()


def make_user(username: str, *, is_staff: bool):
    return get_user_model().objects.create_user(username, password="pw", is_staff=is_staff)


def test_staff_session_is_allowed(session_client: Client):
    session_client.force_login(make_user("ada", is_staff=True))

    assert isinstance(result(rpc(session_client, "status", [], key=None)), dict)


def test_non_staff_session_is_403(session_client: Client):
    session_client.force_login(make_user("bob", is_staff=False))

    assert_refused(rpc(session_client, "status", [], key=None), 403, FORBIDDEN)


def test_inactive_staff_is_refused(session_client: Client):
    user = make_user("eve", is_staff=True)
    session_client.force_login(user)
    user.is_active = False
    user.save()

    response = rpc(session_client, "status", [], key=None)

    # Django's session no longer names anyone: not authenticated, rather than not allowed.
    assert_refused(response, 401, UNAUTHENTICATED)


def test_session_principal_owns_its_tokens(session_client: Client):
    session_client.force_login(make_user("ada", is_staff=True))
    token = result(rpc(session_client, "connect_via_queue", ["task:*", 60], key=None))

    err = error(rpc(session_client, "get_nowait", [token], key=KEY_B))

    assert err["code"] == INVALID_TOKEN


def test_staff_session_without_csrf_token_is_refused(db):
    with override_settings(MIDDLEWARE=SESSION_MIDDLEWARE):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user("ada", is_staff=True))

        response = rpc(client, "status", [], key=None)

    assert_refused(response, 403, FORBIDDEN)


def test_api_key_needs_no_csrf_token_even_with_a_session(db):
    with override_settings(MIDDLEWARE=SESSION_MIDDLEWARE):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user("bob", is_staff=False))

        response = rpc(client, "status", [], key=KEY_B)

    assert isinstance(result(response), dict)


# -- anonymous -----------------------------------------------------------------


def test_allow_anonymous_admits_requests_without_a_key(client: Client):
    with berrymq_config(ALLOW_ANONYMOUS=True):
        token = result(rpc(client, "connect_via_queue", ["task:*", 60], key=None))
        assert error(rpc(client, "get_nowait", [token], key=None))["code"] == TIMEOUT
        # The token is anonymous's: a key's principal cannot use it.
        assert error(rpc(client, "get_nowait", [token], key=KEY_B))["code"] == INVALID_TOKEN


def test_allow_anonymous_still_accepts_keys(client: Client):
    with berrymq_config(ALLOW_ANONYMOUS=True):
        assert isinstance(result(rpc(client, "status", [], key=KEY_B)), dict)


# -- methods other than POST ---------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_http_methods_are_405_with_a_json_body(client: Client, method: str):
    response = getattr(client, method)(rpc_url(), headers=headers_for(KEY_B))

    assert response.status_code == 405, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert "POST" in response["Allow"]
    obj = body(response)
    assert isinstance(obj, dict)


# -- throttling ----------------------------------------------------------------


def test_throttle_classes_apply(client: Client):
    with berrymq_config(THROTTLE_CLASSES=["tests.rpc.test_auth.TwoPerMinute"]):
        assert isinstance(result(rpc(client, "status", [])), dict)
        assert isinstance(result(rpc(client, "status", [])), dict)
        response = rpc(client, "status", [])

    assert_refused(response, 429, THROTTLED)
    assert int(response["Retry-After"]) > 0


def test_throttle_given_as_a_class(client: Client):
    with berrymq_config(THROTTLE_CLASSES=[TwoPerMinute]):
        for _ in range(2):
            rpc(client, "status", [])
        assert_refused(rpc(client, "status", []), 429, THROTTLED)


def test_no_throttle_by_default(client: Client):
    for _ in range(20):
        assert isinstance(result(rpc(client, "status", [])), dict)
