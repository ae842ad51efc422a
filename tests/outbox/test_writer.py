"""Writing the outbox in the test process (SQLite): transactions, JSON, statements, dead letters.

The relay does not run by itself here (RELAY False): a test that sends calls
``run_once()`` in its own thread, against a real peer site.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from berrymq_django import default_dispatcher, twitter
from berrymq_django.outbox import atomic, store
from berrymq_django.outbox.models import DEAD, DELIVERED, PENDING, OutboxMessage
from berrymq_django.outbox.relay import OutboxRelay
from berrymq_django.outbox.setup import current_options
from berrymq_django.peering import peers
from berrymq_django.transaction import twitter_on_commit
from tests.peering.sites import Site, key_for

KEY = key_for("tester")
NOWHERE = "http://127.0.0.1:9/berrymq/rpc/"  # a peer that is never up: rows stay pending


def _outbox(url: str = NOWHERE, **extra: Any) -> dict[str, Any]:
    return {
        "OUTBOX": {"ENABLED": True, "RELAY": False},
        "PEERS": {"b": {"URL": url, "API_KEY": KEY, "STYLE": "oneway"}},
        **extra,
    }


@pytest.fixture
def outbox_on(db: None) -> Iterator[None]:
    with override_settings(BERRYMQ=_outbox()):
        yield


def _identifiers() -> list[str]:
    return list(OutboxMessage.objects.order_by("id").values_list("identifier", flat=True))


def test_rows_are_written_in_one_insert_per_block(outbox_on: None) -> None:
    with CaptureQueriesContext(connection) as queries, atomic():
        for i in range(100):
            twitter_on_commit("order:created", i)
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "berrymq_outbox"')]
    assert len(inserts) == 1
    assert OutboxMessage.objects.filter(state=PENDING, destination="peer:b").count() == 100


def test_a_savepoint_rolled_back_inside_the_block_leaves_its_rows_out(outbox_on: None) -> None:
    with atomic():
        twitter_on_commit("order:kept", 1)
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            twitter_on_commit("order:undone", 2)
            twitter("order:undone", 3)
            1 / 0  # noqa: B018
        twitter("order:kept", 4)
    assert _identifiers() == ["order:kept", "order:kept"]


def test_a_rolled_back_block_writes_nothing(outbox_on: None) -> None:
    with pytest.raises(ZeroDivisionError), atomic():
        twitter_on_commit("order:created", 1)
        1 / 0  # noqa: B018
    assert _identifiers() == []


def test_twitter_in_djangos_own_atomic_writes_at_once(outbox_on: None) -> None:
    with transaction.atomic():
        twitter("order:created", 1)
        assert _identifiers() == ["order:created"]


def test_arguments_that_are_not_json_fail_in_the_caller_before_anything_is_written(
    outbox_on: None,
) -> None:
    with atomic():
        with pytest.raises(TypeError, match=r"'order:created'.*not JSON"):
            twitter_on_commit("order:created", object())
        assert _identifiers() == []


def test_without_the_outbox_nothing_is_written(db: None) -> None:
    with atomic():
        twitter_on_commit("order:created", 1)
    assert _identifiers() == []


def test_local_messages_are_never_written(outbox_on: None) -> None:
    with atomic():
        twitter_on_commit("_local:tick", 1)
    assert _identifiers() == []


def test_a_refused_message_becomes_a_dead_letter_and_the_rest_go_on(
    db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    short = {"MAX_IDENTIFIER_LENGTH": 24}
    b = Site("site-b", keys={"tester": KEY}, env={"BERRYMQ_SITE_EXTRA": json.dumps(short)})
    with b, override_settings(BERRYMQ=_outbox(b.rpc_url)):
        with atomic():
            twitter_on_commit("order:first", 1)
            twitter_on_commit("order:" + "x" * 40, 2)
            twitter_on_commit("order:last", 3)
        relay = OutboxRelay(peers().dispatcher, peers(), current_options())
        while relay.run_once():
            pass
        relay.close()
        assert [(m["id"], m["args"]) for m in b.received()] == [
            ("order:first", [1]),
            ("order:last", [3]),
        ]
        [dead] = OutboxMessage.objects.all()
        assert dead.state == DEAD and "identifier" in dead.error.lower()
        assert store.stats("default") == {
            "peer:b": {"pending": 0, "oldest_pending_seconds": None, "dead": 1}
        }
        call_command("berrymq_outbox", "dead")
        assert f"order:{'x' * 40} -> peer:b" in capsys.readouterr().out
        call_command("berrymq_outbox", "retry")
        call_command("berrymq_outbox")
        assert "peer:b: 1 pending" in capsys.readouterr().out
        call_command("berrymq_outbox", "purge", "--pending", "--yes")
        assert OutboxMessage.objects.count() == 0


def test_the_check_warns_when_the_oldest_pending_message_waits_too_long(db: None) -> None:
    from berrymq_django.checks import check_outbox

    conf = _outbox()
    conf["OUTBOX"]["WARN_SECONDS"] = 60
    with override_settings(BERRYMQ=conf):
        twitter("order:created", 1)
        assert check_outbox(databases=["default"]) == []
        OutboxMessage.objects.update(created=time.time() - 600)
        [warning] = check_outbox(databases=["default"])
        assert warning.id == "berrymq_django.W003"
        assert "'peer:b'" in warning.msg and "WARN_SECONDS (60)" in warning.msg
        assert check_outbox(databases=[]) == []  # a database check: only when asked


def test_a_relay_of_ones_own_gets_the_message_at_commit_only(
    outbox_on: None, django_capture_on_commit_callbacks: Any
) -> None:
    got: list[str] = []

    class Tap:
        def relay(self, message: Any) -> None:
            got.append(message.id)

    tap = Tap()
    default_dispatcher.add_relay(tap)
    try:
        with pytest.raises(ZeroDivisionError), atomic():
            twitter_on_commit("order:undone", 1)
            1 / 0  # noqa: B018
        with django_capture_on_commit_callbacks(execute=True), atomic():
            twitter_on_commit("order:created", 2)
            assert got == []
        assert got == ["order:created"]
    finally:
        default_dispatcher.remove_relay(tap)


def test_delivered_rows_are_kept_for_retention_seconds_then_deleted(db: None) -> None:
    with Site("site-b", keys={"tester": KEY}) as b:
        conf = _outbox(b.rpc_url)
        conf["OUTBOX"]["RETENTION_SECONDS"] = 60
        with override_settings(BERRYMQ=conf):
            with atomic():
                twitter_on_commit("order:first", 1)
            relay = OutboxRelay(peers().dispatcher, peers(), current_options())
            while relay.run_once():
                pass
            assert b.received()[0]["id"] == "order:first"
            assert list(OutboxMessage.objects.values_list("state", flat=True)) == [DELIVERED]
            OutboxMessage.objects.update(finished=time.time() - 120)  # past its retention
            with atomic():
                twitter_on_commit("order:second", 2)
            while relay.run_once():
                pass
            relay.close()
            kept = OutboxMessage.objects.values_list("identifier", "state")
            assert list(kept) == [("order:second", DELIVERED)]


@pytest.mark.django_db(transaction=True)
async def test_atwitter_writes_its_rows_from_async_code() -> None:
    from asgiref.sync import sync_to_async

    from berrymq_django import atwitter

    with override_settings(BERRYMQ=_outbox()):
        await atwitter("order:created", 1)
        count = await sync_to_async(OutboxMessage.objects.count)()
    assert count == 1


def test_purge_without_a_terminal_to_ask_refuses_with_a_command_error(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a script or cron (stdin closed) purge cannot ask: it says to add --yes."""
    import io

    from django.core.management.base import CommandError

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with override_settings(BERRYMQ=_outbox()), pytest.raises(CommandError, match="--yes"):
        call_command("berrymq_outbox", "purge")


def test_relay_once_without_the_table_is_a_command_error_naming_the_fix(outbox_on: None) -> None:
    from django.core.management.base import CommandError

    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute('DROP TABLE "berrymq_outbox"')
    with pytest.raises(CommandError, match="migrate berrymq_django"):
        call_command("berrymq_relay", "--once")


def test_a_scrape_of_the_metrics_shows_the_outbox(db: None) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with override_settings(BERRYMQ=_outbox(METRICS_PUBLIC=True)):
        twitter("order:created", 1)
        twitter("order:created", 2)
        text = client_get_metrics()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    where = (("destination", "peer:b"),)
    assert found[("berrymq_outbox_pending", where)] == 2
    assert found[("berrymq_outbox_dead", where)] == 0
    assert found[("berrymq_outbox_oldest_pending_seconds", where)] >= 0


def client_get_metrics() -> str:
    from django.test import Client

    response = Client().get("/berrymq/metrics")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def test_the_endpoint_refuses_args_the_outbox_cannot_carry_as_invalid_params(db: None) -> None:
    """JSON the endpoint parses but the outbox cannot write (a lone surrogate, an int of
    hundreds of digits) is the caller's bad params, -32602, not an internal error."""
    from django.test import Client

    def call(method: str, params: str) -> dict[str, Any]:
        body = f'{{"jsonrpc": "2.0", "id": 1, "method": "{method}", "params": {params}}}'
        answer = Client().post(
            "/berrymq/rpc/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {KEY}",
        )
        return dict(answer.json())

    with override_settings(BERRYMQ=_outbox(API_KEYS={"tester": KEY})):
        token = call("connect_oneway", "{}")["result"]
        for bad in ('"\\ud800"', "9" * 500):
            params = f'{{"token": "{token}", "identifier": "order:x", "args": [{bad}]}}'
            answer = call("send_message", params)
            assert answer.get("error", {}).get("code") == -32602, answer
            assert "'order:x'" in answer["error"]["message"], answer
        assert OutboxMessage.objects.count() == 0
