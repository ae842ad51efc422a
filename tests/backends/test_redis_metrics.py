"""berrymq/metrics on the Redis backend: its state, its counters, dead letters, shared queues."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from berrymq_django import Queue
from berrymq_django.backends.base import GroupPolicy
from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.message import Message
from tests.support import eventually

KEY = "m" * 32


@pytest.fixture
def site(redis_url: str, prefix: str) -> Iterator[RedisBackend]:
    """The default dispatcher on Redis, as a site's settings would put it, with a scraper key."""
    conf = {
        "BACKEND": "berrymq_django.backends.redis.RedisBackend",
        "BACKEND_OPTIONS": {"URL": redis_url, "PREFIX": prefix},
        "GROUP_CLAIM_SECONDS": 1.5,
        "GROUP_MAX_ATTEMPTS": 2,
        "API_KEYS": {"scraper": KEY},
    }
    with override_settings(BERRYMQ=conf):
        backend = default_dispatcher.backend
        assert isinstance(backend, RedisBackend)
        yield backend


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/berrymq/metrics", HTTP_AUTHORIZATION=f"Bearer {KEY}")
    assert response.status_code == 200, response.content[:300]
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_the_backend_is_up_and_says_so(site: RedisBackend):
    assert site.ready(10.0)
    found = scrape()
    assert found[("berrymq_backend_up", ())] == 1
    assert found[("berrymq_backend_info", (("backend", "redis"), ("state", "connected")))] == 1
    assert ("berrymq_backend_published_total", ()) in found
    assert ("berrymq_backend_dropped_total", ()) in found


def test_dead_letters_are_counted_per_group(site: RedisBackend, make_dispatcher: Any):
    worker = make_dispatcher()
    worker.backend.configure_groups(GroupPolicy(claim_seconds=1.0, max_attempts=2))

    def refuse(message: Message) -> None:
        raise RuntimeError("cannot")

    worker.register_function("order:*", refuse, group="stock")
    default_dispatcher.twitter("order:created", 1)
    default_dispatcher.twitter("order:paid", 2)
    eventually(site.dead_letters.counts, until=lambda c: c == {"stock": 2}, timeout=20)

    assert scrape()[("berrymq_dead_letters", (("group", "stock"),))] == 2


def test_a_shared_queue_reports_its_depth_from_redis(site: RedisBackend):
    queue = Queue("task:*", shared=True, maxsize=10)
    for i in range(3):
        default_dispatcher.twitter("task:run", i)

    labels = (("queue", "task:*"), ("shared", "true"))
    eventually(lambda: scrape().get(("berrymq_queue_depth", labels)), lambda v: v == 3)
    assert scrape()[("berrymq_queue_maxsize", labels)] == 10
    queue.delete()


def test_a_backend_that_cannot_reach_redis_is_reported_down(make_dispatcher: Any):
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from berrymq_django.metrics import BerryMQCollector
    from tests.support import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    dispatcher = make_dispatcher(nowhere, ready=False, CONNECT_TIMEOUT=0.2)
    dispatcher.register_function("order:*", lambda message: None, group="stock")
    dispatcher.twitter("order:created", 1)  # held for Redis
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BerryMQCollector(dispatcher))

    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert found[("berrymq_backend_up", ())] == 0
    assert found[("berrymq_backend_info", (("backend", "redis"), ("state", "disconnected")))] == 1
    assert found[("berrymq_backend_buffered", ())] >= 1
    # Counting dead letters needs Redis: left out, the rest of the scrape is there.
    assert not any(name == "berrymq_dead_letters" for name, _ in found)
    assert found[("berrymq_messages_sent_total", ())] == 1


def test_the_lag_gauge_appears_once_a_message_from_another_process_came_in(
    site: RedisBackend, make_dispatcher: Any
):
    assert site.ready(10.0)
    received: list[Message] = []
    default_dispatcher.register_function("lag:*", received.append)
    assert ("berrymq_backend_lag_seconds", ()) not in scrape()

    make_dispatcher().twitter("lag:now", 1)
    eventually(lambda: len(received), until=lambda n: n == 1, timeout=20)

    assert 0.0 <= scrape()[("berrymq_backend_lag_seconds", ())] < 30.0
