"""berrymq/metrics: the Prometheus view, who may scrape it, and what a scrape says.

Scraped through Django's test client and the real view, parsed with
prometheus_client's own parser.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from berrymq_django import Message, Queue, register_function, twitter
from berrymq_django.checks import check_metrics
from berrymq_django.metrics import Figure, add_figure_source, remove_figure_source

URL = "/berrymq/metrics"
KEY = "m" * 32
BASE = {"API_KEYS": {"scraper": KEY}, "NODE_NAME": "metrics-node"}


def boom(message: Message) -> None:
    raise ValueError("boom")


def nothing(message: Message) -> None:
    pass


@pytest.fixture(autouse=True)
def keys() -> Iterator[None]:
    with override_settings(BERRYMQ=BASE):
        yield


def scrape(client: Client | None = None, **extra: Any) -> dict[tuple[str, tuple], float]:
    """GET the metrics with the API key; return {(sample name, sorted labels): value}."""
    client = client or Client()
    response = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {KEY}", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(text_string_to_metric_families(response.content.decode()))


def samples(families: Iterable[Any]) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in families:
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def make_user(username: str, *, is_staff: bool) -> Any:
    return get_user_model().objects.create_user(username, password="pw", is_staff=is_staff)


# -- who may scrape ----------------------------------------------------------------------


def test_anonymous_is_401_with_a_bearer_challenge():
    response = Client().get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"berrymq_" not in response.content


def test_a_wrong_key_is_401():
    response = Client().get(URL, HTTP_AUTHORIZATION="Bearer " + "x" * 32)
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_user_who_is_not_staff_is_403():
    client = Client()
    client.force_login(make_user("bob", is_staff=False))
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_a_staff_session_may_scrape():
    client = Client()
    client.force_login(make_user("ada", is_staff=True))
    response = client.get(URL)
    assert response.status_code == 200
    assert b"berrymq_messages_sent_total" in response.content


def test_an_api_key_may_scrape():
    assert ("berrymq_messages_sent_total", ()) in scrape()


def test_metrics_public_opens_the_view():
    with override_settings(BERRYMQ={**BASE, "METRICS_PUBLIC": True}):
        response = Client().get(URL)
    assert response.status_code == 200
    assert b"berrymq_messages_sent_total" in response.content


def test_openmetrics_is_served_to_a_scraper_that_asks():
    response = Client().get(
        URL,
        HTTP_AUTHORIZATION=f"Bearer {KEY}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


# -- what a scrape says --------------------------------------------------------------------


def test_a_scrape_counts_messages_and_follower_figures():
    register_function("order:paid", nothing)
    register_function("order:paid", boom)
    for _ in range(3):
        twitter("order:paid", 1)

    found = scrape()
    assert found[("berrymq_messages_sent_total", ())] == 3
    assert found[("berrymq_messages_delivered_total", ())] == 3
    assert found[("berrymq_delivery_errors_total", ())] == 3
    ok = (("follower", f"{__name__}.nothing"),)
    failing = (("follower", f"{__name__}.boom"),)
    assert found[("berrymq_follower_delivered_total", ok)] == 3
    assert found[("berrymq_follower_errors_total", ok)] == 0
    assert found[("berrymq_follower_errors_total", failing)] == 3
    assert found[("berrymq_follower_seconds_total", ok)] > 0


def test_a_scrape_shows_queue_depth_bound_and_drops():
    queue = Queue("task:*", maxsize=2)
    for i in range(5):
        twitter("task:run", i)

    found = scrape()
    labels = (("queue", "task:*"), ("shared", "false"))
    assert found[("berrymq_queue_depth", labels)] == 2
    assert found[("berrymq_queue_maxsize", labels)] == 2
    assert found[("berrymq_queue_dropped_total", labels)] == 3
    queue.close()


def test_a_scrape_shows_the_backend():
    found = scrape()
    assert found[("berrymq_backend_up", ())] == 1
    assert found[("berrymq_backend_info", (("backend", "memory"), ("state", "connected")))] == 1


def test_labels_never_carry_identifiers_as_sent():
    register_function("order", nothing)  # follows every order:<action>
    for i in range(20):
        twitter(f"order:shipped-{i}", f"uid-{i}")

    response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {KEY}")
    text = response.content.decode()
    assert "shipped" not in text and "uid-" not in text
    found = samples(text_string_to_metric_families(text))
    assert found[("berrymq_follower_delivered_total", (("follower", f"{__name__}.nothing"),))] == 20


def test_counters_grow_between_scrapes():
    register_function("order:paid", nothing)
    twitter("order:paid")
    first = scrape()[("berrymq_messages_sent_total", ())]
    twitter("order:paid")
    twitter("order:paid")
    assert scrape()[("berrymq_messages_sent_total", ())] == first + 2


# -- figure sources --------------------------------------------------------------------------


def test_a_figure_source_adds_its_figures():
    add_figure_source(
        "outbox",
        lambda: [
            Figure("outbox_pending", 7, "Messages waiting in the outbox."),
            Figure("outbox_oldest_age_seconds", 1.5, "Age of the oldest waiting message."),
            Figure("outbox_sent", 40, "Messages the outbox sent.", kind="counter"),
            Figure("outbox_by_db", 3, "Pending per database.", labels={"database": "default"}),
        ],
    )
    try:
        found = scrape()
    finally:
        remove_figure_source("outbox")
    assert found[("berrymq_outbox_pending", ())] == 7
    assert found[("berrymq_outbox_oldest_age_seconds", ())] == 1.5
    assert found[("berrymq_outbox_sent_total", ())] == 40
    assert found[("berrymq_outbox_by_db", (("database", "default"),))] == 3
    assert ("berrymq_outbox_pending", ()) not in scrape()


def test_a_failing_or_malformed_source_leaves_the_rest_of_the_scrape(
    caplog: pytest.LogCaptureFixture,
):
    def failing() -> list[Figure]:
        raise RuntimeError("source down")

    add_figure_source("failing", failing)
    add_figure_source("malformed", lambda: [Figure("bad name!", 1, "?"), Figure("good", 2, "ok")])
    try:
        found = scrape()
    finally:
        remove_figure_source("failing")
        remove_figure_source("malformed")
    assert ("berrymq_messages_sent_total", ()) in found
    assert found[("berrymq_good", ())] == 2
    assert "source down" in caplog.text
    assert "bad name!" in caplog.text


def test_a_figure_source_must_be_callable():
    with pytest.raises(TypeError, match="42"):
        add_figure_source("x", 42)  # type: ignore[arg-type]


# -- without prometheus-client -----------------------------------------------------------------


@pytest.fixture
def no_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import prometheus_client`` fail, as it does without the metrics extra."""
    for name in [m for m in sys.modules if m.split(".")[0] == "prometheus_client"]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.usefixtures("no_prometheus")
def test_without_prometheus_client_the_view_answers_501_with_the_hint():
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {KEY}")
    assert response.status_code == 501
    assert b'pip install "berrymq_django[metrics]"' in response.content
    assert Client().get(URL).status_code == 401  # still refused before anything else


@pytest.mark.usefixtures("no_prometheus")
def test_without_prometheus_client_metrics_public_is_a_system_check_warning():
    with override_settings(BERRYMQ={"METRICS_PUBLIC": True}):
        (warning,) = check_metrics()
    assert warning.id == "berrymq_django.W004"
    assert "prometheus-client" in warning.msg
    assert "berrymq_django[metrics]" in warning.hint
    with override_settings(BERRYMQ={}):
        assert check_metrics() == []


def test_with_prometheus_client_metrics_public_is_fine():
    with override_settings(BERRYMQ={"METRICS_PUBLIC": True}):
        assert check_metrics() == []
