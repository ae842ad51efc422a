"""A peer URL's password never leaves the settings: errors and status name the URL without it.

A link's last error reaches the JSON-RPC ``status`` (any key holder may call
it), the dashboard, the logs and the outbox relay's figures.
"""

from __future__ import annotations

import pytest

from berrymq_django.backends.memory import MemoryBackend
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.rpc.client import PeerUnavailable, RPCClient
from berrymq_django.rpc.link import PeerConfig
from berrymq_django.rpc.sender import PeerLink
from berrymq_django.rpc.urls import shown_url
from tests.support import free_port


def test_an_unreachable_peer_is_named_without_its_password() -> None:
    url = f"http://bob:hunter2@127.0.0.1:{free_port()}/berrymq/rpc/"
    with RPCClient(url, timeout=10) as client, pytest.raises(PeerUnavailable) as caught:
        client.call("status", {})
    assert "hunter2" not in str(caught.value)
    assert f"http://bob:***@127.0.0.1:{url.split(':')[3]}" in str(caught.value)


def test_a_links_status_shows_its_url_without_the_password() -> None:
    config = PeerConfig(name="peer", url="https://bob:hunter2@peer.test/rpc/", api_key="k" * 32)
    state = MemoryBackend()
    link = PeerLink(config, Dispatcher("here", state), state, "http://here.test/berrymq/rpc/")
    try:
        assert link.status()["url"] == "https://bob:***@peer.test/rpc/"
    finally:
        link.close(timeout=0.5)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://peer.test/rpc/", "http://peer.test/rpc/"),
        ("http://:pw@peer.test:81/rpc/", "http://:***@peer.test:81/rpc/"),
        ("http://bob@peer.test/rpc/", "http://bob@peer.test/rpc/"),
        ("http://b%40b:p@ss@peer.test/", "http://b%40b:***@peer.test/"),
        # What no parser accepts is shown as written, its password hidden all the same.
        ("redis://u:pw@[::1/0", "redis://u:***@[::1/0"),
        ("http://:pw@h:99999?x=@y", "http://:***@h:99999?x=@y"),
        ("no url at all", "no url at all"),
    ],
)
def test_shown_url_hides_only_the_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown
