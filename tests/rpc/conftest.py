"""Fixtures for the JSON-RPC endpoint tests.

Every test here runs on a backend of its own (no connections or uids left
by earlier tests), with two API keys configured (``site-b`` and ``site-c``,
see helpers.py), a fixed node name and a short MAX_POLL_SECONDS so that no
blocking ``get`` waits long. ``berrymq_config(**keys)`` lays more BERRYMQ keys
over that base for one block. Django's cache, which DRF's throttles use, is
cleared before each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from berrymq_django import Message, register_function

from .helpers import API_KEYS, KEY_B, NODE_NAME, result, rpc

BASE_SETTINGS: dict[str, Any] = {
    "BACKEND": "tests.rpc.helpers.FreshMemoryBackend",
    "API_KEYS": API_KEYS,
    "NODE_NAME": NODE_NAME,
    "MAX_POLL_SECONDS": 1.0,
}


def berrymq_config(**overrides: Any) -> override_settings:
    """Return override_settings with the test base BERRYMQ plus overrides (a context manager)."""
    return override_settings(BERRYMQ={**BASE_SETTINGS, **overrides})


@pytest.fixture(autouse=True)
def rpc_settings() -> Iterator[None]:
    """Configure the keys and limits every RPC test assumes; start with an empty cache."""
    cache.clear()
    with berrymq_config():
        yield
    cache.clear()


@pytest.fixture
def client() -> Client:
    """A test Client that, like a real one, enforces CSRF checks (API keys must not need them)."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def follow() -> Callable[[str], list[Message]]:
    """Return follow(identifier): register a function follower, get the list it appends to."""

    def follow(identifier: str) -> list[Message]:
        received: list[Message] = []
        register_function(identifier, received.append)
        return received

    return follow


@pytest.fixture
def connect_queue(client: Client) -> Callable[..., str]:
    """Return connect_queue(identifier, ttl=60, key=KEY_B) -> token of a new queue connection."""

    def connect_queue(identifier: str, ttl: float = 60, key: str = KEY_B) -> str:
        token = result(rpc(client, "connect_via_queue", [identifier, ttl], key=key))
        assert isinstance(token, str)
        return token

    return connect_queue


@pytest.fixture
def oneway_token(client: Client) -> str:
    """A connect_oneway token of site-b, to send with."""
    token = result(rpc(client, "connect_oneway", [60]))
    assert isinstance(token, str)
    return token
