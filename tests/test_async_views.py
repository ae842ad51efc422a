"""Async views under ASGI: the shop's restock view awaits atwitter(), driven by AsyncClient."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient
from django.urls import reverse

from berrymq_django import Message, following_function
from berrymq_django.testing import capture_messages
from example_project.shop.models import Product
from example_project.shop.services import StockKeeper

# The view's sync followers run in a worker thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def product() -> Product:
    return await Product.objects.acreate(name="Bilberry jam", price=Decimal("6.00"), stock=2)


async def test_restock_view_awaits_async_and_sync_followers(
    async_client: AsyncClient, product: Product
) -> None:
    keeper = StockKeeper()  # a sync follower, run through sync_to_async
    awaited: list[Message] = []

    @following_function("stock:restock")
    async def announce(message: Message) -> None:
        awaited.append(message)

    url = reverse("shop:restock", args=[product.pk])
    with capture_messages("stock:*") as outbox:
        response = await async_client.post(url, {"quantity": "5"})

    assert response.status_code == 302
    assert response.url == reverse("shop:index")
    assert (await Product.objects.aget(pk=product.pk)).stock == 7
    assert keeper.handled == 1
    assert [(m.id, m.args, m.kwargs) for m in awaited] == [
        ("stock:restock", (product.pk,), {"quantity": 5})
    ]
    assert outbox == awaited


async def test_restock_view_is_served_by_the_asgi_handler(async_client: AsyncClient) -> None:
    response = await async_client.get(reverse("shop:restock", args=[1]))
    assert isinstance(response.asgi_request.scope, dict)  # it came through ASGI
    assert response.status_code == 405


async def test_restock_refuses_bad_quantity_and_unknown_product(
    async_client: AsyncClient, product: Product
) -> None:
    with capture_messages() as outbox:
        bad = await async_client.post(reverse("shop:restock", args=[product.pk]), {"quantity": 0})
        missing = await async_client.post(
            reverse("shop:restock", args=[product.pk + 99]), {"quantity": 1}
        )
    assert (bad.status_code, missing.status_code) == (400, 404)
    assert outbox == []


def test_example_project_ships_an_asgi_application() -> None:
    from berrymq_django.asgi import EndpointThreadMiddleware, LongPollMiddleware
    from example_project.asgi import application

    assert isinstance(application, LongPollMiddleware)
    assert isinstance(application.app, EndpointThreadMiddleware)
    assert isinstance(application.app.app, ASGIHandler)


async def test_sync_follower_in_an_async_view_may_use_the_orm(
    async_client: AsyncClient, product: Product
) -> None:
    stock_seen: list[int] = []

    @following_function("stock:restock")
    def read_stock(message: Message) -> None:
        # Runs in a worker thread via sync_to_async: synchronous ORM calls are allowed.
        stock_seen.append(Product.objects.get(pk=message.args[0]).stock)

    response = await async_client.post(reverse("shop:restock", args=[product.pk]), {"quantity": 1})
    assert response.status_code == 302
    assert stock_seen == [2]  # no StockKeeper in this isolated test: nothing was added
