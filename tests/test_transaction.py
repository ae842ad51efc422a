"""twitter_on_commit: messages leave only when the surrounding transaction commits.

These tests need real commits, so they use transactional database tests
(``django_db(transaction=True)``), as Django's TransactionTestCase does.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from berrymq_django import Message, following_function, twitter_on_commit
from berrymq_django.testing import capture_messages
from example_project.shop.models import Product

pytestmark = pytest.mark.django_db(transaction=True)


def test_sent_after_commit_not_before() -> None:
    seen_inside: list[str] = []
    with capture_messages("stock:*") as outbox:
        with transaction.atomic():
            Product.objects.create(name="Gooseberry jam", price="3.00", stock=1)
            twitter_on_commit("stock:changed", 1, reason="created")
            seen_inside.extend(outbox.ids)
        assert seen_inside == []
        [message] = outbox
    assert (message.id, message.args, message.kwargs) == (
        "stock:changed",
        (1,),
        {"reason": "created"},
    )


def test_follower_sees_the_committed_row() -> None:
    found: list[bool] = []

    @following_function("product:created")
    def look_up(message: Message) -> None:
        found.append(Product.objects.filter(pk=message.args[0]).exists())

    with transaction.atomic():
        product = Product.objects.create(name="Elderberry jam", price="5.00")
        twitter_on_commit("product:created", product.pk)
    assert found == [True]


def test_nothing_is_sent_on_rollback() -> None:
    with capture_messages() as outbox:
        with pytest.raises(RuntimeError), transaction.atomic():
            twitter_on_commit("order:created", 1)
            raise RuntimeError("payment refused")
        twitter_on_commit("order:other", 2)  # autocommit again: sent at once
    assert outbox.ids == ["order:other"]


def test_rolled_back_savepoint_drops_only_its_messages() -> None:
    with capture_messages() as outbox:
        with transaction.atomic():
            twitter_on_commit("order:outer", 1)
            with pytest.raises(ValueError), transaction.atomic():
                twitter_on_commit("order:inner", 2)
                raise ValueError("inner block failed")
        assert outbox.ids == ["order:outer"]


def test_sent_at_once_outside_a_transaction() -> None:
    assert connection.get_autocommit()
    with capture_messages() as outbox:
        result = twitter_on_commit("order:created", 7, total="9.90")
        assert outbox.ids == ["order:created"]
    assert result is None
    assert outbox[0].kwargs == {"total": "9.90"}


def test_using_names_the_database_alias() -> None:
    with capture_messages() as outbox, transaction.atomic(using="default"):
        twitter_on_commit("order:created", 1, using="default")
        assert outbox == []
    assert outbox.ids == ["order:created"]


@pytest.mark.parametrize("bad", ["order created", "", "a:b:c"])
def test_malformed_identifier_fails_in_the_caller_not_at_commit(bad: str) -> None:
    with pytest.raises(ValueError, match="Invalid berryMQ identifier"), transaction.atomic():
        twitter_on_commit(bad)


def test_is_exported_from_the_package() -> None:
    import berrymq_django

    assert "twitter_on_commit" in berrymq_django.__all__
    assert berrymq_django.twitter_on_commit is twitter_on_commit
