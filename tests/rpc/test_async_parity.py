"""The endpoint answers the same bytes under WSGI and under ASGI.

One scenario of calls (results, every kind of error, batches, notifications,
1.0 calls, refusals) runs through the sync path (Django's test Client),
through the async path (AsyncClient, where the endpoint is a coroutine
function) and through ``LongPollMiddleware`` in front of Django's ASGI
handler (which answers waiting gets itself), each on a fresh backend; the
responses must match byte for byte, status and headers included, once the
tokens each run was given are replaced by their names. Generated bodies
aimed at ``get`` (hypothesis, with the fuzzer's values) must get the same
bytes on both paths too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.test import AsyncClient, Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berrymq_django import async_views
from berrymq_django.asgi import EndpointThreadMiddleware, LongPollMiddleware
from berrymq_django.backends.memory import MemoryBackend

from .conftest import berrymq_config
from .helpers import KEY_B, KEY_C, rpc_url
from .test_fuzz import json_values

Post = Callable[[bytes, dict[str, str], str], Awaitable[tuple[int, dict[str, str], bytes]]]
Answer = tuple[int, dict[str, str], bytes]


class AsyncRunBackend(MemoryBackend):
    """A fresh memory backend for the async run (a new class name builds a new backend)."""


class SyncRunBackend(MemoryBackend):
    """A fresh memory backend for the sync run."""


class MiddlewareRunBackend(MemoryBackend):
    """A fresh memory backend for the run through LongPollMiddleware."""


def req(method: str, params: Any = None, id: Any = 1, *, v1: bool = False) -> dict[str, Any]:
    call: dict[str, Any] = {} if v1 else {"jsonrpc": "2.0"}
    call["method"] = method
    if params is not None:
        call["params"] = params
    if id is not None:
        call["id"] = id
    return call


def wire(uid: str, id: str = "parity:one") -> dict[str, Any]:
    """A message with every field given, so that what get returns is the same in each run."""
    return {
        "id": id,
        "args": [1, "two"],
        "kwargs": {"k": 3},
        "uid": uid,
        "origin": "elsewhere",
        "timestamp": 1700000000.5,
    }


async def scenario(post: Post) -> list[Answer]:
    """Run the calls through post(body, headers, method); return every answer, tokens named."""
    bearer = {"Authorization": f"Bearer {KEY_B}"}
    answers: list[Answer] = []
    tokens: dict[str, str] = {}

    async def send(payload: Any, headers: dict[str, str] = bearer, method: str = "POST") -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        for name, token in tokens.items():
            body = body.replace(f"<{name}>".encode(), token.encode())
        status, head, content = await post(body, headers, method)
        answers.append((status, head, content))
        return json.loads(content) if content else None

    tokens["q"] = (await send(req("connect_via_queue", ["parity:*", 60])))["result"]
    tokens["o"] = (await send(req("connect_oneway", [60])))["result"]
    tokens["c"] = (
        await send(req("connect_via_queue", ["parity:*", 60]), {"Authorization": f"Bearer {KEY_C}"})
    )["result"]
    await send(req("get", ["<q>", False]))
    await send(req("get", ["<q>", True, 0.05]))
    await send(req("get", {"token": "<q>", "timeout": 0}))
    await send(req("get_nowait", ["<q>"]))
    await send(req("send_messages", ["<o>", [wire("u-1")]]))
    await send(req("get", ["<q>", True, 5]))
    await send(req("get", ["<c>"]))  # site-c's token: site-b is refused
    await send(req("get", ["<o>", True, 0.01]))  # not a queue connection
    await send(req("get", ["no-such-token", True, 0.01]))
    await send(req("get", ["<q>", "yes"]))  # a bad param
    await send(req("get", ["<q>", True, -1]))
    await send(req("get", ["<q>", False, None], 7, v1=True))
    await send(req("get", ["<q>", True, 0.01], None))  # a notification: 204
    await send(
        [
            req("send_messages", ["<o>", [wire("u-2", "parity:two")]], "s"),
            req("get", ["<q>", True, 1], "g1"),
            req("get", {"token": "<q>", "block": True, "timeout": 0.01}, "g2"),
            req("get", ["<q>", False], None),
            req("nope", [], 9),
            "garbage",
            req("get", ["<q>", "yes"], "g3"),
            req("send_messages", ["<o>", [wire("u-3", "parity:three")]], "s2"),
            req("get_nowait", ["<q>"], "g4"),
            {"jsonrpc": "2.0", "method": ["get"], "id": "m"},  # not a method name
        ]
    )
    await send({"jsonrpc": "2.0", "method": {"get": 1}, "params": ["<q>"], "id": 2})
    await send([req("get", ["<q>", True, 0.01], None)])  # a batch of notifications: 204
    await send(b"{")
    await send(b"[]")
    await send(b"[1]")
    await send(req("get", ["<q>"]), {})  # no key
    await send(req("get", ["<q>"]), {"Authorization": "Bearer wrong"})
    await send(req("get", ["<q>"]), bearer, "GET")
    await send(b"", bearer, "OPTIONS")  # DRF describes the view: the endpoint's own name
    await send(req("close_connection", ["<q>"]))
    await send(req("get", ["<q>", True, 0.01]))
    for name, token in tokens.items():
        answers = [(s, h, c.replace(token.encode(), f"<{name}>".encode())) for s, h, c in answers]
    return answers


def sync_post(client: Client) -> Post:
    async def post(body: bytes, headers: dict[str, str], method: str) -> Answer:
        if method in ("GET", "OPTIONS"):
            response = client.generic(method, rpc_url(), headers=headers)
        else:
            response = client.post(
                rpc_url(), data=body, content_type="application/json", headers=headers
            )
        return response.status_code, dict(response.headers), response.content

    return post


def async_post(client: AsyncClient) -> Post:
    async def post(body: bytes, headers: dict[str, str], method: str) -> Answer:
        if method in ("GET", "OPTIONS"):
            response = await client.generic(method, rpc_url(), headers=headers)
        else:
            response = await client.post(
                rpc_url(), data=body, content_type="application/json", headers=headers
            )
        return response.status_code, dict(response.headers), response.content

    return post


def asgi_post(
    app: Any, *, root_path: str = "", extra: list[tuple[bytes, bytes]] | None = None
) -> Post:
    """Post through an ASGI app in this process, the body in two messages as a server may.

    Headers named in headers replace the default Host; extra headers are
    added as they are (a second Authorization, say).
    """

    async def post(body: bytes, headers: dict[str, str], method: str) -> Answer:
        given = {k.lower().encode(): v.encode() for k, v in headers.items()}
        head = [(b"host", b"testserver"), (b"content-type", b"application/json")]
        head = [(k, v) for k, v in head if k not in given] + list(given.items()) + (extra or [])
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": root_path + rpc_url(),
            "raw_path": (root_path + rpc_url()).encode(),
            "query_string": b"",
            "root_path": root_path,
            "headers": [*head, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        sent = await asgi_call(app, scope, body)
        start, *rest = sent
        headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], headers_out, b"".join(m.get("body", b"") for m in rest)

    return post


async def asgi_call(
    app: Any, scope: dict[str, Any], body: bytes, *, sent: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Run one HTTP request through app; return the messages it sent (into sent, if given)."""
    half = len(body) // 2
    incoming = [
        {"type": "http.request", "body": body[:half], "more_body": True},
        {"type": "http.request", "body": body[half:], "more_body": False},
    ]
    answered = asyncio.Event()
    sent = [] if sent is None else sent

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await answered.wait()  # the client stays until it has its answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    finally:
        answered.set()
    return sent


def drive_sync(coroutine: Any) -> Any:
    """Run a scenario whose posts never await: the sync Client runs with no event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the sync scenario awaited something")


def test_sync_and_async_paths_answer_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    served_async: list[str] = []
    adispatch = async_views.adispatch

    def counting(request: Any, *args: Any, **kwargs: Any) -> Any:
        served_async.append(request.method)
        return adispatch(request, *args, **kwargs)

    monkeypatch.setattr(async_views, "adispatch", counting)
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend"):
        sync_answers = drive_sync(scenario(sync_post(Client(enforce_csrf_checks=True))))
    assert served_async == []  # WSGI: the sync view
    with berrymq_config(BACKEND=f"{__name__}.AsyncRunBackend"):
        async_answers = asyncio.run(scenario(async_post(AsyncClient(enforce_csrf_checks=True))))
    assert len(served_async) == len(async_answers)  # ASGI: every request on the loop

    assert len(sync_answers) == len(async_answers)
    for number, (ours, theirs) in enumerate(zip(sync_answers, async_answers, strict=True)):
        assert ours == theirs, f"answer {number} differs"
    statuses = {status for status, _, _ in sync_answers}
    assert statuses == {200, 204, 401, 405}
    assert b'"origin":"elsewhere"' in sync_answers[8][2]  # the message came back


def test_long_poll_middleware_answers_the_same_bytes_as_the_sync_path() -> None:
    django_cycles: list[object] = []

    def count(**kwargs: Any) -> None:
        django_cycles.append(kwargs)

    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend"):
        sync_answers = drive_sync(scenario(sync_post(Client(enforce_csrf_checks=True))))
    app = LongPollMiddleware(ASGIHandler())
    request_started.connect(count)
    try:
        with berrymq_config(BACKEND=f"{__name__}.MiddlewareRunBackend"):
            answers = asyncio.run(scenario(asgi_post(app)))
    finally:
        request_started.disconnect(count)
    # The single gets with a valid key were answered before Django; the rest went through.
    assert 0 < len(django_cycles) < len(answers) - 10
    assert len(sync_answers) == len(answers)
    for number, (ours, theirs) in enumerate(zip(sync_answers, answers, strict=True)):
        # CommonMiddleware sets Content-Length (tests/settings.py); a get answered before
        # Django gets it from LongPollMiddleware. The lengths differ with the tokens in them.
        assert "Content-Length" in theirs[1]
        ours[1].pop("Content-Length", None)
        theirs[1].pop("Content-Length", None)
        assert ours == theirs, f"answer {number} differs"


# -- generated bodies aimed at get, the one call the async path answers itself ----------

get_params = st.one_of(
    json_values,
    st.tuples(st.just("<q>"), json_values).map(list),
    st.tuples(st.just("<q>"), st.booleans(), json_values).map(list),
    st.fixed_dictionaries({"token": st.just("<q>")}, optional={"block": json_values}),
    st.fixed_dictionaries({"token": json_values, "timeout": json_values}),
)
get_calls = st.builds(
    lambda method, params, id, v1: req(method, params, id, v1=v1),
    st.sampled_from(["get", "get_nowait", "GET", "get "]) | json_values,
    get_params,
    st.none() | st.integers() | st.text(max_size=3) | json_values,
    st.booleans(),
)
get_bodies = get_calls | st.lists(get_calls | json_values, min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=get_bodies)
def test_generated_get_calls_answer_the_same_bytes_on_both_paths(payload: Any) -> None:
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend", MAX_POLL_SECONDS=0.01):
        client = Client()
        headers = {"Authorization": f"Bearer {KEY_B}"}
        token = client.post(
            rpc_url(),
            data=json.dumps(req("connect_via_queue", ["fuzz:*", 60])),
            content_type="application/json",
            headers=headers,
        ).json()["result"]
        body = json.dumps(payload).replace("<q>", token).encode()
        ours = drive_sync(sync_post(client)(body, headers, "POST"))
        theirs = asyncio.run(async_post(AsyncClient())(body, headers, "POST"))
    assert ours == theirs


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(req("get", ["t" * 400, True, 0.01])).encode(),  # past MAX_BODY_BYTES
        b'{"jsonrpc": "2.0", "method": "get", "params": [',  # cut short
        json.dumps([req("get", ["nope", False])]).encode(),  # a batch of one get
        json.dumps(req("get", ["nope", False])).replace(" ", " " * 200).encode(),
    ],
    ids=["too-large", "truncated", "batch", "padded-past-the-limit"],
)
def test_long_poll_middleware_gives_django_what_it_does_not_answer_body_intact(
    body: bytes,
) -> None:
    headers = {"Authorization": f"Bearer {KEY_B}"}
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend", MAX_BODY_BYTES=256):
        ours = drive_sync(sync_post(Client())(body, headers, "POST"))
        theirs = asyncio.run(asgi_post(LongPollMiddleware(ASGIHandler()))(body, headers, "POST"))
    assert ours == theirs
    assert b'"error"' in theirs[2]


def cycles_during(run: Callable[[], Any]) -> tuple[Any, int]:
    """Return run()'s result and how many requests Django's request cycle started meanwhile."""
    started: list[object] = []

    def count(**kwargs: Any) -> None:
        started.append(kwargs)

    request_started.connect(count)
    try:
        return run(), len(started)
    finally:
        request_started.disconnect(count)


def connect_queue(client: Client, headers: dict[str, str]) -> str:
    body = json.dumps(req("connect_via_queue", ["edge:*", 60]))
    answer = client.post(rpc_url(), data=body, content_type="application/json", headers=headers)
    token: str = answer.json()["result"]
    return token


@pytest.mark.parametrize(
    ("headers", "extra", "status"),
    [
        ({"Host": "evil.example"}, [], 400),  # ALLOWED_HOSTS, as get_host() checks it
        ({}, [(b"authorization", b"Bearer wrong")], 401),  # two keys: one invalid value
        ({}, [(b"authorization", f"Bearer {KEY_B}".encode())], 401),
    ],
    ids=["disallowed-host", "second-key-wrong", "second-key-same"],
)
def test_long_poll_middleware_leaves_to_django_what_django_refuses(
    headers: dict[str, str], extra: list[tuple[bytes, bytes]], status: int
) -> None:
    bearer = {"Authorization": f"Bearer {KEY_B}"}
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend", MAX_POLL_SECONDS=0.01):
        client = Client()
        token = connect_queue(client, bearer)
        body = json.dumps(req("get", [token, True, 0.01])).encode()
        post = asgi_post(LongPollMiddleware(ASGIHandler()), extra=extra)
        answer, cycles = cycles_during(
            lambda: asyncio.run(post(body, {**bearer, **headers}, "POST"))
        )
    assert answer[0] == status
    assert cycles == 1  # Django refused it, not the middleware's fast path


def test_long_poll_middleware_serves_below_a_root_path() -> None:
    bearer = {"Authorization": f"Bearer {KEY_B}"}
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend", MAX_POLL_SECONDS=0.01):
        token = connect_queue(Client(), bearer)
        body = json.dumps(req("get", [token, True, 0.01])).encode()
        post = asgi_post(LongPollMiddleware(ASGIHandler()), root_path="/app")
        answer, cycles = cycles_during(lambda: asyncio.run(post(body, bearer, "POST")))
    assert json.loads(answer[2])["error"]["code"] == -32001  # timeout: it was a get
    assert cycles == 0  # answered before Django, with the site mounted at /app


def test_long_poll_middleware_takes_nothing_for_a_get_sent_as_a_notification() -> None:
    bearer = {"Authorization": f"Bearer {KEY_B}"}
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend", MAX_POLL_SECONDS=0.01):
        client = Client()
        token = connect_queue(client, bearer)
        sender = json.loads(
            client.post(
                rpc_url(),
                data=json.dumps(req("connect_oneway", [60])),
                content_type="application/json",
                headers=bearer,
            ).content
        )["result"]
        sent = req("send_message", [sender, "edge:one", [1]])
        client.post(
            rpc_url(), data=json.dumps(sent), content_type="application/json", headers=bearer
        )
        body = json.dumps(req("get", [token, True, 0.01], None)).encode()
        post = asgi_post(LongPollMiddleware(ASGIHandler()))
        answer, cycles = cycles_during(lambda: asyncio.run(post(body, bearer, "POST")))
        after = client.post(
            rpc_url(),
            data=json.dumps(req("get_nowait", [token])),
            content_type="application/json",
            headers=bearer,
        )
    assert (answer[0], answer[2], cycles) == (204, b"", 0)  # the middleware answered it
    assert "content-type" not in {name.lower() for name in answer[1]}  # nothing to type
    assert json.loads(after.content)["result"]["args"] == [1]  # and took nothing


@override_settings(ROOT_URLCONF="tests.rpc.urls_without_endpoint")
def test_the_middlewares_pass_everything_on_when_the_endpoint_is_not_mounted() -> None:
    app = LongPollMiddleware(EndpointThreadMiddleware(ASGIHandler()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/berrymq/rpc/",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {KEY_B}".encode())],
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
    }
    for _ in range(2):  # not only the first request: every one
        start, *_ = asyncio.run(asgi_call(app, dict(scope), b'{"method": "get"}'))
        assert start["status"] == 404  # Django's answer for a path it does not serve


def test_a_poll_the_server_cancels_is_answered_503_to_retry() -> None:
    bearer = {"Authorization": f"Bearer {KEY_B}"}
    with berrymq_config(BACKEND=f"{__name__}.SyncRunBackend"):
        token = connect_queue(Client(), bearer)
        body = json.dumps(req("get", [token, True, 30])).encode()
        scope = {
            "type": "http",
            "method": "POST",
            "path": rpc_url(),
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", bearer["Authorization"].encode()),
            ],
            "query_string": b"",
            "root_path": "",
            "server": ("testserver", 80),
        }
        sent: list[dict[str, Any]] = []

        async def run() -> None:
            app = LongPollMiddleware(ASGIHandler())
            poll = asyncio.ensure_future(asgi_call(app, scope, body, sent=sent))
            await asyncio.sleep(0.2)  # the poll waits (its timeout is 30 s) ...
            assert not poll.done()
            poll.cancel()  # ... when the server gives up on it (a graceful shutdown's timeout)
            await poll  # answered, the request ends: no CancelledError for the server to log

        asyncio.run(run())
    assert sent[0]["status"] == 503
    assert dict(sent[0]["headers"])[b"Retry-After"] == b"1"
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == -32005 and "stopping" in error["message"]
