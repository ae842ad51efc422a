"""Views of the demo: show what the followers and the queue hold, twitter, drain."""

from __future__ import annotations

import itertools
from collections import deque

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from berrymq_django import Empty, show_followers, twitter
from example_project.demo import receivers
from example_project.demo.forms import ClickForm

# next() on a count is atomic in CPython, so threaded requests never share a number.
_click_numbers = itertools.count(1)
# What the drain button pulled from the queue; reading the queue would consume it.
drained: deque[str] = deque(maxlen=50)


def _render_home(request: HttpRequest, form: ClickForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "received": list(reversed(receivers.received)),
        "click_count": receivers.click_counter.count,
        "inbox": receivers.inbox,
        "pending": receivers.inbox.qsize(),
        "drained": list(reversed(drained)),
        "followers": show_followers(),
    }
    return render(request, "demo/home.html", context, status=status)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Show the followers' records, the queue's size and the last drained messages."""
    return _render_home(request, ClickForm())


@require_POST
def click(request: HttpRequest) -> HttpResponse:
    """Twitter "demo:clicked" with the typed text and a running number, then redirect."""
    form = ClickForm(request.POST)
    if not form.is_valid():
        return _render_home(request, form, status=400)
    twitter("demo:clicked", form.cleaned_data["text"], number=next(_click_numbers))
    return redirect("demo:home")


@require_POST
def drain(request: HttpRequest) -> HttpResponse:
    """Pull every pending message from the queue without blocking, then redirect."""
    while True:
        try:
            message = receivers.inbox.get_nowait()
        except Empty:
            break
        drained.append(receivers.describe(message))
    return redirect("demo:home")
