"""The pure parts of the dashboard: chart and network geometry, durations, hidden passwords,
and the attention list."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from berrymq_django.dashboard.attention import attention
from berrymq_django.dashboard.pictures import BOX_HEIGHT, chart, network
from berrymq_django.dashboard.report import duration, hide_passwords


def test_the_chart_draws_three_bars_a_minute_scaled_to_the_largest_value() -> None:
    drawn = chart([(0, 0, 0, 0), (60, 10, 8, 2), (120, 4, 4, 0)], width=120, height=100)
    assert drawn.top == 10
    assert drawn.totals == {"sent": 14, "delivered": 12, "errors": 2}
    assert (drawn.first, drawn.last) == ("00:00", "00:02")
    bars = [(b["name"], b["x"], b["y"], b["height"]) for b in drawn.bars]
    assert bars == [
        ("sent", 40.0, 0.0, 100.0),
        ("delivered", 50.0, 20.0, 80.0),
        ("errors", 60.0, 80.0, 20.0),
        ("sent", 80.0, 60.0, 40.0),
        ("delivered", 90.0, 60.0, 40.0),
    ]
    assert drawn.bars[0]["title"] == "00:01 UTC: 10 sent"


def test_an_idle_hour_draws_no_bars() -> None:
    drawn = chart([(60.0 * m, 0, 0, 0) for m in range(60)])
    assert drawn.top == 1 and drawn.bars == [] and drawn.minutes == 60


def _sub(pattern: str, label: str, kind: str = "function") -> SimpleNamespace:
    return SimpleNamespace(pattern=pattern, label=label, kind=kind)


def test_patterns_sit_by_their_followers_without_overlapping() -> None:
    subs = [
        _sub("a:*", "app.one"),
        _sub("b:*", "app.one"),  # one follower of two patterns: one node, two edges
        _sub("c:*", "app.two"),
        _sub("c:*", "Queue('c:*')", "queue"),
    ]
    graph = network(subs)
    followers = [box for box in graph.boxes if box.kind != "pattern"]
    patterns = sorted((box for box in graph.boxes if box.kind == "pattern"), key=lambda b: b.y)
    assert [box.title for box in followers] == ["app.one", "app.two", "Queue('c:*')"]
    assert [box.title for box in patterns] == ["a:*", "b:*", "c:*"]
    assert all(low.y - high.y >= BOX_HEIGHT for high, low in itertools.pairwise(patterns))
    assert len(graph.edges) == 4
    assert all(box.x + box.width <= graph.width for box in graph.boxes)
    assert all(box.y + box.height <= graph.height for box in graph.boxes)


def test_long_labels_are_cut_and_kept_whole_in_the_title() -> None:
    label = "app." + "x" * 200
    (follower, _pattern) = network([_sub("a:*", label)]).boxes
    assert len(follower.label) == 60 and follower.label.endswith("…")
    assert follower.title == label


def test_no_subscription_gives_an_empty_picture() -> None:
    graph = network([])
    assert graph.boxes == [] and graph.edges == []


def test_passwords_in_urls_are_hidden() -> None:
    text = "PeerUnavailable: http://site-b:s3cret@example.com:8000/berrymq/rpc/: refused"
    assert hide_passwords(text) == (
        "PeerUnavailable: http://site-b:***@example.com:8000/berrymq/rpc/: refused"
    )
    assert hide_passwords("http://example.com/rpc/") == "http://example.com/rpc/"
    assert hide_passwords(None) is None


def test_durations_show_their_two_largest_units() -> None:
    assert duration(0) == "0 s"
    assert duration(45.7) == "45 s"
    assert duration(12 * 60 + 5) == "12 min 5 s"
    assert duration(3 * 3600 + 20 * 60 + 9) == "3 h 20 min"
    assert duration(2 * 86400 + 4 * 3600 + 7) == "2 d 4 h"
    assert duration(86400 + 30) == "1 d 30 s"


def test_attention_names_what_is_wrong_and_where_to_look() -> None:
    backend = {"state": "disconnected", "status": {"last_error": "ConnectionError: refused"}}
    links = [
        {"name": "b", "state": "retrying", "last_error": "PeerUnavailable: down"},
        {"name": "c", "state": "connected", "last_error": None},
    ]
    queues = [{"label": "Queue('x:*')", "full": True, "depth": 5, "maxsize": 5}]
    conns = [{"principal": "site-b", "pattern": "y:*", "full": True}]
    dead = {"counts": {"stock": 3}}
    box = {
        "warn_seconds": 300.0,
        "destinations": {
            "peer:b": {"pending": 40, "oldest_pending_seconds": 900.0, "dead": 2},
            "backend": {"pending": 1, "oldest_pending_seconds": 0.5, "dead": 0},
        },
        "relay": {"last_error": "PeerUnavailable: down"},
    }
    items = attention(backend, links, queues, conns, dead, box)
    assert [(item["page"], item["text"]) for item in items] == [
        ("overview", "The backend is disconnected: ConnectionError: refused"),
        ("peers", "Peer link b is retrying: PeerUnavailable: down"),
        ("queues", "Queue('x:*') is full (5 of 5)"),
        ("queues", "Queue connection of site-b on y:* is full"),
        ("dead", "Group stock has 3 dead letter(s)"),
        ("overview", "Outbox to peer:b: 40 pending, oldest 900 s"),
        ("dead", "Outbox to peer:b: 2 dead message(s)"),
        ("overview", "Outbox relay: PeerUnavailable: down"),
    ]


def test_a_healthy_site_needs_no_attention() -> None:
    backend = {"state": "connected", "status": {}}
    assert attention(backend, [], [], [], None, None) == []
