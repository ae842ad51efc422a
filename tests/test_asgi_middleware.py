"""EndpointThreadMiddleware: the endpoint's requests keep to one of a few long-lived threads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.urls import reverse

from berrymq_django.asgi import EndpointThreadMiddleware


class Recorder:
    """An ASGI app that runs two thread-sensitive sync calls, as Django's handler does."""

    def __init__(self) -> None:
        self.threads: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # What Django does around each request: a context per request, outermost wins.
        from asgiref.sync import ThreadSensitiveContext

        async with ThreadSensitiveContext():
            first = await sync_to_async(lambda: threading.current_thread().name)()
            await asyncio.sleep(0)
            second = await sync_to_async(lambda: threading.current_thread().name)()
        self.threads.append((first, second))


def request(path: str) -> dict[str, Any]:
    return {"type": "http", "path": path, "method": "POST"}


async def nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def ignore(message: Any) -> None:
    pass


def test_endpoint_requests_keep_to_one_of_the_shared_threads() -> None:
    app = Recorder()
    wrapped = EndpointThreadMiddleware(app, threads=2)  # type: ignore[arg-type]

    async def run() -> None:
        await asyncio.gather(
            *(wrapped(request(reverse("berrymq:rpc")), nothing, ignore) for _ in range(6))
        )
        await wrapped(request("/elsewhere/"), nothing, ignore)

    asyncio.run(run())
    *endpoint, other = app.threads
    assert all(first == second for first, second in endpoint)  # one thread per request
    names = {first for first, _ in endpoint}
    assert len(names) == 2 and all(name.startswith("berrymq-rpc-") for name in names)
    assert not other[0].startswith("berrymq-rpc-")  # other paths: Django's own thread


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_a_bad_thread_count_is_refused_by_name(threads: Any) -> None:
    with pytest.raises(ValueError, match=repr(threads).replace(".", r"\.")):
        EndpointThreadMiddleware(ASGIHandler(), threads=threads)
