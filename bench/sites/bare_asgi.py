"""The floor of a long poll under uvicorn: a bare ASGI app whose requests only wait.

No Django, no berryMQ: POST /wait reads its body and waits on a future;
POST /wake answers every waiting request with the same small JSON body;
GET /count says how many wait. ``bench/long_polls.py`` holds as many polls
here as on the ASGI site and reads the same figures, so that what the server
itself costs per waiting request, and how fast one loop answers them all,
stand beside ours in one run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
ANSWER = b'{"jsonrpc":"2.0","result":{"id":"wake:up"},"id":1}'

_waiting: list[asyncio.Future[None]] = []


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Serve /wait, /wake and /count; lifespan as uvicorn asks."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (message := await receive()).get("more_body"):
        pass
    body = ANSWER
    if scope["path"] == "/wait" and message["type"] == "http.request":
        waiter = asyncio.get_running_loop().create_future()
        _waiting.append(waiter)
        await waiter
    elif scope["path"] == "/wake":
        waiters = list(_waiting)
        _waiting.clear()
        for waiter in waiters:
            waiter.set_result(None)
    else:
        body = str(len(_waiting)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
