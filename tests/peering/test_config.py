"""BERRYMQ["PEERS"] mistakes: ImproperlyConfigured naming the peer and the key.

At start-up a mistake is logged and the site runs without its peers; ``manage.py
check`` reports it (berrymq_django.E005).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from berrymq_django.conf import berrymq_settings
from berrymq_django.peering import configure_peers, peer_configs
from berrymq_django.rpc.peers import PeerConfig

from .conftest import TESTER_KEY
from .sites import ROOT, Site

URL = "http://127.0.0.1:8002/berrymq/rpc/"


def test_a_good_peer_gets_the_documented_defaults():
    (config,) = peer_configs({"site-b": {"URL": URL}})

    assert config == PeerConfig(name="site-b", url=URL)
    assert (config.style, [str(p) for p in config.forward], config.api_key) == (
        "interconnect",
        ["*:*"],
        None,
    )
    assert (config.buffer_size, config.batch_size, config.ttl) == (100_000, 1000, 1000.0)
    assert (config.flush_interval, config.timeout, config.max_backoff) == (0.002, 10.0, 2.0)


def test_every_option_is_read():
    options = {
        "URL": URL,
        "API_KEY": "k" * 20,
        "STYLE": "queue",
        "FORWARD": ["order:*"],
        "QUEUE": "task:*",
        "TTL": 60,
        "BUFFER_SIZE": 10,
        "BATCH_SIZE": 5,
        "FLUSH_INTERVAL": 0.01,
        "TIMEOUT": 3,
        "POLL_SECONDS": 2,
        "MAX_BACKOFF": 1,
    }
    (config,) = peer_configs({"b": options})

    assert (config.style, config.queue, config.ttl, config.buffer_size) == (
        "queue",
        "task:*",
        60,
        10,
    )
    assert (config.batch_size, config.timeout, config.poll_seconds) == (5, 3, 2)
    assert (config.flush_interval, config.max_backoff, config.api_key) == (0.01, 1, "k" * 20)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "['b']['URL']"),
        ({"URL": "ftp://host/"}, "['b']['URL']"),
        ({"URL": 8002}, "['b']['URL']"),
        ({"URL": URL, "STYLE": "both"}, "['b']['STYLE']"),
        ({"URL": URL, "STYLE": "callback"}, "['b']['STYLE']"),
        ({"URL": URL, "FORWARD": "order:*"}, "['b']['FORWARD']"),
        ({"URL": URL, "FORWARD": ["order created"]}, "['b']['FORWARD']"),
        ({"URL": URL, "STYLE": "queue"}, "['b']['QUEUE']"),
        ({"URL": URL, "STYLE": "queue", "QUEUE": "task: *"}, "['b']['QUEUE']"),
        ({"URL": URL, "BUFFER_SIZE": 0}, "['b']['BUFFER_SIZE']"),
        ({"URL": URL, "BUFFER_SIZE": "10"}, "['b']['BUFFER_SIZE']"),
        ({"URL": URL, "BATCH_SIZE": 2.5}, "['b']['BATCH_SIZE']"),
        ({"URL": URL, "BATCH_SIZE": True}, "['b']['BATCH_SIZE']"),
        ({"URL": URL, "TTL": -1}, "['b']['TTL']"),
        ({"URL": URL, "TIMEOUT": 0}, "['b']['TIMEOUT']"),
        ({"URL": URL, "MAX_BACKOFF": "5"}, "['b']['MAX_BACKOFF']"),
        ({"URL": URL, "API_KEY": ""}, "['b']['API_KEY']"),
        ({"URL": URL, "API_KEY": 42}, "['b']['API_KEY']"),
        ({"URL": URL, "STLYE": "oneway"}, "STLYE"),
    ],
)
def test_a_bad_value_names_the_peer_and_key(options: dict[str, Any], named: str):
    with pytest.raises(ImproperlyConfigured) as raised:
        peer_configs({"b": options})

    assert named in str(raised.value)


@pytest.mark.parametrize("setting", [["b"], "b", 42])
def test_peers_must_be_a_dict(setting: Any):
    with pytest.raises(ImproperlyConfigured, match="'PEERS'"):
        peer_configs(setting)


def test_options_must_be_a_dict():
    with pytest.raises(ImproperlyConfigured, match=r"\['b'\] must be a dict"):
        peer_configs({"b": URL})


def test_interconnect_needs_self_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(berrymq_settings, "PEERS", {"b": {"URL": URL}})
    monkeypatch.setattr(berrymq_settings, "SELF_URL", None)

    with pytest.raises(ImproperlyConfigured, match=r"\['b'\] is interconnected.*'SELF_URL'"):
        configure_peers()


def test_a_site_with_a_bad_peer_starts_without_peers_and_says_why():
    # A settings mistake never stops a site: it is logged, and manage.py check fails on it.
    site = Site(
        "misconfigured", keys={"tester": TESTER_KEY}, peers={"b": {"URL": URL, "STYLE": "queue"}}
    )
    try:
        site.start(timeout=30)
        assert "BERRYMQ['PEERS']['b']['QUEUE'] must name the remote queue" in site.log()
        assert "No peer is connected until it is fixed" in site.log()
        assert site.status(TESTER_KEY)["peers"] == {}
        check = subprocess.run(
            [sys.executable, "-m", "django", "check"],
            cwd=ROOT,
            env=site.environ(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 1
        assert "berrymq_django.E005" in check.stderr
        assert "['b']['QUEUE'] must name the remote queue" in check.stderr
        assert "Traceback" not in check.stderr
    finally:
        site.close()
