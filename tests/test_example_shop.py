"""The example project's shop: orders, StockKeeper, packing, the packing queue and model events.

These tests use the followers wired at start-up (receivers, the StockKeeper made in
ShopConfig.ready, ActivityView's class-level follower), so they run unisolated
(berrymq_shared), and with real commits, since every message goes out on commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from berrymq_django import Empty, show_followers
from berrymq_django.testing import Outbox, capture_messages
from example_project.shop import receivers, views
from example_project.shop.models import Order, Product
from example_project.shop.services import StockKeeper

pytestmark = [pytest.mark.berrymq_shared, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_packing_queue() -> None:
    """Drain the packing queue: it lives for the process, across tests."""
    while True:
        try:
            receivers.packing.get_nowait()
        except Empty:
            return


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    with capture_messages() as captured:
        yield captured


@pytest.fixture
def jam() -> Product:
    return Product.objects.create(name="Lingonberry jam", price=Decimal("4.20"), stock=5)


def order(client: Client, product: Product, quantity: int) -> Order:
    response = client.post(
        reverse("shop:place_order"), {"product": product.pk, "quantity": quantity}
    )
    assert response.status_code == 302
    assert response.url == reverse("shop:index")
    return Order.objects.latest("pk")


def test_the_service_made_in_ready_follows_orders() -> None:
    keeper = apps.get_app_config("shop").stock_keeper
    assert isinstance(keeper, StockKeeper)
    lines = show_followers()
    assert (
        "order:* -> example_project.shop.services.StockKeeper.on_order (method) [group stock]"
        in lines
    )
    assert "order:reserved -> example_project.shop.receivers.pack (function) [group packing]" in (
        lines
    )
    assert "shop.order:* -> example_project.shop.views.ActivityView.record (method)" in lines


def test_index_lists_products_and_the_order_form(client: Client, jam: Product) -> None:
    response = client.get(reverse("shop:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Lingonberry jam" in page
    assert "csrfmiddlewaretoken" in page
    assert reverse("shop:restock", args=[jam.pk]) in page


def test_placing_an_order_reserves_stock_packs_it_and_queues_it_for_shipping(
    client: Client, jam: Product, outbox: Outbox
) -> None:
    handled = apps.get_app_config("shop").stock_keeper.handled
    placed = order(client, jam, 2)

    # Reserved by StockKeeper, then packed by the "packing" group: here, one process.
    assert placed.status == Order.Status.PACKED
    assert placed.reserved_by == placed.packed_by == f"pid {os.getpid()}"
    jam.refresh_from_db()
    assert jam.stock == 3
    assert apps.get_app_config("shop").stock_keeper.handled == handled + 1
    assert sorted(outbox.ids) == [
        "order:created",
        "order:packed",
        "order:reserved",
        "shop.order:created",
        "shop.order:updated",
        "shop.order:updated",
    ]
    [created] = outbox.filter("order:created")
    assert created.args == (placed.pk,)
    assert created.kwargs == {"product": jam.pk, "quantity": 2}
    assert receivers.packing.qsize() == 1
    assert any(
        line.endswith(f"order:created({placed.pk}, product={jam.pk}, quantity=2)")
        for line in receivers.order_log
    )
    page = client.get(reverse("shop:index")).content.decode()
    assert f"packed by pid {os.getpid()}" in page


def test_too_large_an_order_is_backordered(client: Client, jam: Product) -> None:
    placed = order(client, jam, 6)
    assert placed.status == Order.Status.BACKORDERED
    jam.refresh_from_db()
    assert jam.stock == 5


def test_invalid_order_is_refused_and_sends_nothing(
    client: Client, jam: Product, outbox: Outbox
) -> None:
    response = client.post(reverse("shop:place_order"), {"product": jam.pk, "quantity": 0})
    assert response.status_code == 400
    assert not Order.objects.exists()
    assert outbox == []


def test_cancelling_a_reserved_order_returns_its_stock(
    client: Client, jam: Product, outbox: Outbox
) -> None:
    placed = order(client, jam, 2)
    outbox.clear()
    response = client.post(reverse("shop:cancel_order", args=[placed.pk]))
    assert response.status_code == 302
    placed.refresh_from_db()
    jam.refresh_from_db()
    assert placed.status == Order.Status.CANCELLED
    assert jam.stock == 5
    [cancelled] = outbox.filter("order:cancelled")
    assert cancelled.kwargs == {"product": jam.pk, "restock": 2}


def test_cancelling_a_backordered_order_returns_nothing(client: Client, jam: Product) -> None:
    placed = order(client, jam, 9)
    client.post(reverse("shop:cancel_order", args=[placed.pk]))
    jam.refresh_from_db()
    assert jam.stock == 5


def test_packing_ships_the_next_reserved_order(
    client: Client, jam: Product, outbox: Outbox
) -> None:
    placed = order(client, jam, 1)
    page = client.get(reverse("shop:packing"))
    assert page.context["pending"] == 1

    response = client.post(reverse("shop:pack_next"))
    assert response.status_code == 302
    placed.refresh_from_db()
    assert placed.status == Order.Status.SHIPPED
    assert "order:shipped" in outbox.ids
    assert placed.shipped_by == f"pid {os.getpid()}"
    page = client.get(reverse("shop:packing"))
    assert page.context["pending"] == 0
    assert page.context["packed"][0].endswith(": shipped")
    # A shipped order can no longer be cancelled.
    assert client.post(reverse("shop:cancel_order", args=[placed.pk])).status_code == 400


def test_packing_skips_a_cancelled_order(client: Client, jam: Product) -> None:
    placed = order(client, jam, 1)
    client.post(reverse("shop:cancel_order", args=[placed.pk]))
    client.post(reverse("shop:pack_next"))
    placed.refresh_from_db()
    assert placed.status == Order.Status.CANCELLED
    assert views.packed[-1].endswith("skipped, the order is cancelled")


def test_packing_an_empty_queue_just_redirects(client: Client) -> None:
    response = client.post(reverse("shop:pack_next"))
    assert response.status_code == 302
    assert response.url == reverse("shop:packing")


def test_restock_through_the_sync_test_client(client: Client, jam: Product) -> None:
    response = client.post(reverse("shop:restock", args=[jam.pk]), {"quantity": 4})
    assert response.status_code == 302
    jam.refresh_from_db()
    assert jam.stock == 9
    assert receivers.order_log[-1].endswith(f"stock:restock({jam.pk}, quantity=4)")


def test_activity_page_shows_model_events_and_followers(client: Client, jam: Product) -> None:
    placed = order(client, jam, 1)
    response = client.get(reverse("shop:activity"))
    assert response.status_code == 200
    events = response.context["model_events"]
    assert events[0].endswith(f"shop.order:updated(pk={placed.pk}, model='shop.Order')")  # packed
    assert events[1].endswith(f"shop.order:updated(pk={placed.pk}, model='shop.Order')")
    assert events[2].endswith(f"shop.order:created(pk={placed.pk}, model='shop.Order')")
    names = [row.name for row in response.context["followers"]]
    assert "example_project.shop.services.StockKeeper.on_order" in names
    assert "Messages handled" in response.content.decode()


def test_buttons_only_accept_post(client: Client) -> None:
    assert client.get(reverse("shop:place_order")).status_code == 405
    assert client.get(reverse("shop:cancel_order", args=[1])).status_code == 405
    assert client.get(reverse("shop:pack_next")).status_code == 405
