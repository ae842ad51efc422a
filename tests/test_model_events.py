"""BERRYMQ["MODEL_EVENTS"]: saves and deletes of listed models become messages after commit.

The test settings list "shop.Order" (as the example project does); Product is not listed.
tests.testapp reaches Order's rows through other classes: RushOrder (a proxy),
GiftOrder (a multi-table child) and RushGiftOrder (a proxy of the child).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from berrymq_django.model_events import connect_model_events, connected_models, event_id
from berrymq_django.testing import Outbox, capture_messages
from example_project.shop.models import Order, Product
from tests.testapp.models import GiftOrder, RushGiftOrder, RushOrder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    """Capture the shop's model events during the test."""
    with capture_messages("shop.order:*") as captured:
        yield captured


@pytest.fixture
def product() -> Product:
    return Product.objects.create(name="Cloudberry jam", price=Decimal("7.50"), stock=3)


@pytest.fixture
def everything() -> Iterator[Outbox]:
    """Capture every message during the test, to see that nothing is sent twice."""
    with capture_messages("*:*") as captured:
        yield captured


def summary(outbox: Outbox) -> list[tuple[str, dict[str, object]]]:
    return [(message.id, message.kwargs) for message in outbox]


def test_configured_models_are_connected() -> None:
    assert connected_models() == [Order]
    assert event_id(Order, "created") == "shop.order:created"


def test_create_update_delete_send_their_events(outbox: Outbox, product: Product) -> None:
    order = Order.objects.create(product=product, quantity=1)
    pk = order.pk
    order.status = Order.Status.SHIPPED
    order.save()
    order.delete()
    expected_kwargs = {"pk": pk, "model": "shop.Order"}
    assert summary(outbox) == [
        ("shop.order:created", expected_kwargs),
        ("shop.order:updated", expected_kwargs),
        ("shop.order:deleted", expected_kwargs),
    ]
    assert all(message.args == () for message in outbox)


def test_events_wait_for_the_commit(outbox: Outbox, product: Product) -> None:
    with transaction.atomic():
        Order.objects.create(product=product, quantity=1)
        assert outbox.ids == []
    assert outbox.ids == ["shop.order:created"]


def test_rolled_back_save_sends_nothing(outbox: Outbox, product: Product) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        Order.objects.create(product=product, quantity=1)
        raise RuntimeError("abandon the order")
    assert outbox.ids == []
    assert not Order.objects.exists()


def test_queryset_delete_sends_one_event_per_row(outbox: Outbox, product: Product) -> None:
    first = Order.objects.create(product=product, quantity=1)
    second = Order.objects.create(product=product, quantity=2)
    outbox.clear()
    Order.objects.all().delete()
    assert sorted(message.kwargs["pk"] for message in outbox) == sorted([first.pk, second.pk])
    assert set(outbox.ids) == {"shop.order:deleted"}


def test_models_not_listed_send_nothing(product: Product) -> None:
    with capture_messages() as everything:
        product.stock = 10
        product.save()
        product.delete()
    assert everything == []


def test_raw_saves_from_loaddata_send_nothing(
    outbox: Outbox, product: Product, tmp_path: Path
) -> None:
    fixture = tmp_path / "orders.json"
    row = {
        "model": "shop.order",
        "pk": 900,
        "fields": {
            "product": product.pk,
            "quantity": 1,
            "status": "pending",
            "created_at": "2026-01-01T00:00:00Z",
        },
    }
    fixture.write_text(json.dumps([row]))
    call_command("loaddata", str(fixture), verbosity=0)
    assert Order.objects.filter(pk=900).exists()
    assert outbox == []


def test_override_settings_reconnects(product: Product) -> None:
    with override_settings(BERRYMQ={"MODEL_EVENTS": ["shop.Product"]}):
        assert connected_models() == [Product]
        with capture_messages("*:*") as inside:
            Order.objects.create(product=product, quantity=1)
            product.save()
        assert inside.ids == ["shop.product:updated"]
        assert inside[0].kwargs == {"pk": product.pk, "model": "shop.Product"}
    assert connected_models() == [Order]


def test_unknown_model_is_improperly_configured_with_a_hint() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        connect_model_events(["shop.Ordr"])
    assert str(info.value) == (
        "BERRYMQ setting 'MODEL_EVENTS' names 'shop.Ordr', which is not an installed model. "
        "Did you mean 'shop.Order'?"
    )
    assert connected_models() == [Order]  # a bad list changes nothing


def test_bad_label_through_override_settings_names_key_and_value() -> None:
    with (
        pytest.raises(ImproperlyConfigured, match=r"'MODEL_EVENTS' names 'nowhere'"),
        override_settings(BERRYMQ={"MODEL_EVENTS": ["nowhere"]}),
    ):
        pass  # pragma: no cover - entering the override already fails
    assert connected_models() == [Order]


# --- rows of a listed model written through other classes -------------------------------


def order_events(pk: object, *actions: str) -> list[tuple[str, dict[str, object]]]:
    return [(f"shop.order:{action}", {"pk": pk, "model": "shop.Order"}) for action in actions]


@pytest.mark.parametrize("proxy", [RushOrder, Order], ids=["proxy", "listed-model"])
def test_a_proxy_writes_the_listed_models_rows_and_sends_its_events(
    everything: Outbox, product: Product, proxy: type[Order]
) -> None:
    order = proxy.objects.create(product=product, quantity=1)
    pk = order.pk
    order.quantity = 2
    order.save()
    order.delete()
    assert summary(everything) == order_events(pk, "created", "updated", "deleted")


def test_a_proxy_queryset_delete_sends_one_event_per_row(
    everything: Outbox, product: Product
) -> None:
    first = RushOrder.objects.create(product=product, quantity=1)
    second = Order.objects.create(product=product, quantity=2)
    everything.clear()
    RushOrder.objects.all().delete()
    assert sorted(summary(everything), key=str) == sorted(
        order_events(first.pk, "deleted") + order_events(second.pk, "deleted"), key=str
    )


@pytest.mark.parametrize("child", [GiftOrder, RushGiftOrder], ids=["child", "proxy-of-child"])
def test_a_child_announces_its_parent_row_once_per_write(
    everything: Outbox, product: Product, child: type[GiftOrder]
) -> None:
    gift = child.objects.create(product=product, quantity=1, note="for Ada")
    pk = gift.pk
    gift.note = "for Grace"
    gift.save()
    gift.delete()
    assert summary(everything) == order_events(pk, "created", "updated", "deleted")
    assert not Order.objects.filter(pk=pk).exists()


def test_deleting_the_parent_row_of_a_child_sends_one_event(
    everything: Outbox, product: Product
) -> None:
    gift = GiftOrder.objects.create(product=product, quantity=1)
    everything.clear()
    Order.objects.filter(pk=gift.pk).delete()  # cascades to the child row
    assert summary(everything) == order_events(gift.pk, "deleted")
    assert not GiftOrder.objects.exists()


def test_deleting_a_child_but_keeping_its_parent_row_sends_nothing(
    everything: Outbox, product: Product
) -> None:
    gift = GiftOrder.objects.create(product=product, quantity=1)
    pk = gift.pk
    everything.clear()
    gift.delete(keep_parents=True)
    assert everything == []
    assert Order.objects.filter(pk=pk).exists()
    assert not GiftOrder.objects.exists()


def test_a_listed_child_and_its_listed_parent_each_announce_once(
    everything: Outbox, product: Product
) -> None:
    with override_settings(BERRYMQ={"MODEL_EVENTS": ["shop.Order", "berrymq_testapp.GiftOrder"]}):
        gift = GiftOrder.objects.create(product=product, quantity=1)
        pk = gift.pk
        gift.delete()
        Order.objects.create(product=product, quantity=1).delete()
    gift_kwargs = {"pk": pk, "model": "berrymq_testapp.GiftOrder"}
    assert sorted(everything.ids[:2]) == ["berrymq_testapp.giftorder:created", "shop.order:created"]
    assert sorted(everything.ids[2:4]) == [
        "berrymq_testapp.giftorder:deleted",
        "shop.order:deleted",
    ]
    assert ("berrymq_testapp.giftorder:created", gift_kwargs) in summary(everything)
    assert everything.ids[4:] == ["shop.order:created", "shop.order:deleted"]


def test_a_listed_proxy_announces_the_writes_made_through_it(
    everything: Outbox, product: Product
) -> None:
    with override_settings(BERRYMQ={"MODEL_EVENTS": ["berrymq_testapp.RushOrder"]}):
        assert connected_models() == [RushOrder]
        Order.objects.create(product=product, quantity=1)
        rush = RushOrder.objects.create(product=product, quantity=1)
        pk = rush.pk
        rush.delete()
    kwargs = {"pk": pk, "model": "berrymq_testapp.RushOrder"}
    assert summary(everything) == [
        ("berrymq_testapp.rushorder:created", kwargs),
        ("berrymq_testapp.rushorder:deleted", kwargs),
    ]


def test_bulk_operations_send_nothing_as_django_signals_do(
    everything: Outbox, product: Product
) -> None:
    orders = Order.objects.bulk_create(
        [Order(product=product, quantity=1), Order(product=product, quantity=2)]
    )
    Order.objects.update(quantity=5)
    for order in orders:
        order.quantity = 7
    Order.objects.bulk_update(orders, ["quantity"])
    assert everything == []
