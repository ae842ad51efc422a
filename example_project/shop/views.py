"""Views of the shop: place and cancel orders, restock (async), ship from the queue, activity.

Placing an order writes the row and twitters "order:created" with
twitter_on_commit, so StockKeeper only hears of orders that really exist;
a reserved order is packed by the "packing" group and waits on the packing
queue until the packing page ships it. The restock view is async and awaits
atwitter().
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from django.apps import apps
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import TemplateView

from berrymq_django import (
    Empty,
    FollowerMixin,
    Message,
    atwitter,
    following,
    twitter_on_commit,
)
from berrymq_django.introspection import follower_rows
from example_project.demo.receivers import describe
from example_project.shop import receivers
from example_project.shop.forms import OrderForm, RestockForm
from example_project.shop.models import Order, Product
from example_project.shop.services import worker

# What the packing page took from the queue in this process, newest last.
packed: deque[str] = deque(maxlen=50)


def _render_index(request: HttpRequest, form: OrderForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "restock_form": RestockForm(),
        "products": Product.objects.all(),
        "orders": Order.objects.select_related("product")[:20],
        "worker": worker(),
    }
    return render(request, "shop/index.html", context, status=status)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Show products with their stock, the order form and the latest orders."""
    return _render_index(request, OrderForm())


@require_POST
def place_order(request: HttpRequest) -> HttpResponse:
    """Create an order; twitter "order:created" once the row is committed, then redirect."""
    form = OrderForm(request.POST)
    if not form.is_valid():
        return _render_index(request, form, status=400)
    product, quantity = form.cleaned_data["product"], form.cleaned_data["quantity"]
    with transaction.atomic():
        order = Order.objects.create(product=product, quantity=quantity)
        # Sent after COMMIT: followers find the row; on rollback nothing is sent.
        twitter_on_commit("order:created", order.pk, product=product.pk, quantity=quantity)
    return redirect("shop:index")


@require_POST
def cancel_order(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel an order that has not shipped; twitter "order:cancelled" with the stock to return."""
    with transaction.atomic():
        order = get_object_or_404(Order.objects.select_for_update(), pk=pk)
        if not order.can_cancel:
            return HttpResponseBadRequest(
                f"Order #{order.pk} is {order.status}; it cannot be cancelled."
            )
        restock = order.quantity if order.holds_stock else 0
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
        twitter_on_commit("order:cancelled", order.pk, product=order.product_id, restock=restock)
    return redirect("shop:index")


async def restock(request: HttpRequest, pk: int) -> HttpResponse:
    """Await atwitter("stock:restock", pk, quantity=n): async followers are awaited."""
    # Checked by hand: method decorators only wrap async views from Django 5.0 on.
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = RestockForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Restock a quantity from 1 to 1000.")
    if not await Product.objects.filter(pk=pk).aexists():
        raise Http404("No such product.")
    # Sync followers (StockKeeper) run in a worker thread; async ones in this loop.
    await atwitter("stock:restock", pk, quantity=form.cleaned_data["quantity"])
    return redirect("shop:index")


@require_GET
def packing(request: HttpRequest) -> HttpResponse:
    """Show how many packed orders wait in the packing Queue and what was shipped."""
    context = {
        "queue": receivers.packing,
        "pending": receivers.packing.qsize(),
        "packed": list(reversed(packed)),
        "worker": worker(),
    }
    return render(request, "shop/packing.html", context)


@require_POST
def pack_next(request: HttpRequest) -> HttpResponse:
    """Take the next order off the packing Queue (never blocking) and ship it if it is packed."""
    try:
        message = receivers.packing.get_nowait()
    except Empty:
        return redirect("shop:packing")
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=message.args[0]).first()
        if order is None or order.status != Order.Status.PACKED:
            status = "gone" if order is None else order.status
            packed.append(f"{describe(message)}: skipped, the order is {status}")
        else:
            order.status, order.shipped_by = Order.Status.SHIPPED, worker()
            order.save(update_fields=["status", "shipped_by"])
            twitter_on_commit("order:shipped", order.pk)
            packed.append(f"{describe(message)}: shipped")
    return redirect("shop:packing")


class ActivityView(FollowerMixin, TemplateView):
    """Show recent model events, which this view class itself follows.

    A view instance lives for one request, so the follower is a classmethod:
    FollowerMixin registers it when the class is created, for good.
    """

    template_name = "shop/activity.html"
    model_events: ClassVar[deque[str]] = deque(maxlen=50)

    @classmethod
    @following("shop.order:*")
    def record(cls, message: Message) -> None:
        """Keep "shop.order:created/updated/deleted" (sent by BERRYMQ["MODEL_EVENTS"])."""
        cls.model_events.append(describe(message))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Add the model events, the order log, StockKeeper's count and the follower table."""
        context = super().get_context_data(**kwargs)
        context["model_events"] = list(reversed(self.model_events))
        context["order_log"] = list(reversed(receivers.order_log))
        context["handled"] = apps.get_app_config("shop").stock_keeper.handled
        context["followers"] = follower_rows()
        return context
