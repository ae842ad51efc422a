"""A peer link's rules, against a scripted peer behind httpx.MockTransport (no sockets).

Retry with backoff, order, batch splitting on LIMIT_EXCEEDED, refused and
unencodable messages, an expired token, a refused key, and stopping with a
deadline. The real-process tests (test_faults.py) show the same rules with
real sites; these pin each rule down on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from berrymq_django.backends.memory import MemoryBackend
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.message import Message
from berrymq_django.rpc.link import PeerConfig
from berrymq_django.rpc.peers import Peers
from berrymq_django.rpc.sender import PeerLink

URL = "http://peer.test/berrymq/rpc/"

Answer = tuple[int, dict[str, Any]]


def ok(result: Any) -> Answer:
    return 200, {"jsonrpc": "2.0", "id": 1, "result": result}


def fail(code: int, message: str, data: Any = None, status: int = 200) -> Answer:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return status, {"jsonrpc": "2.0", "id": 1, "error": error}


class FakePeer:
    """A peer endpoint: connect_* hand out tokens, send_messages records what it accepts.

    ``script`` answers before the default behaviour: a function of (method,
    params) returning an Answer, or None to let the peer behave. Thread-safe.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, list[Any]]] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.tokens: list[str] = []
        self.script: Callable[[str, list[Any]], Answer | None] = lambda method, params: None

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        method, params = body["method"], body["params"]
        with self.lock:
            self.calls.append((method, params))
        answer = self.script(method, params)
        if answer is None:
            answer = self.behave(method, params)
        status, payload = answer
        payload["id"] = body["id"]
        return httpx.Response(status, content=orjson.dumps(payload))

    def behave(self, method: str, params: list[Any]) -> Answer:
        if method.startswith(("connect_", "interconnect")):
            with self.lock:
                token = f"token-{len(self.tokens) + 1}"
                self.tokens.append(token)
            return ok(token)
        if method == "status":
            return ok({"node": "peer-node"})
        if method == "send_messages":
            if params[0] != self.tokens[-1]:
                return fail(-32000, "invalid token")
            with self.lock:
                self.batches.append(params[1])
            return ok({"accepted": len(params[1]), "duplicates": 0})
        return ok("ok")

    def received(self) -> list[Any]:
        with self.lock:
            return [m["args"][0] for batch in self.batches for m in batch]

    def methods(self) -> list[str]:
        with self.lock:
            return [method for method, _ in self.calls]


@pytest.fixture
def peer() -> FakePeer:
    return FakePeer()


@pytest.fixture
def make_link(peer: FakePeer) -> Iterator[Callable[..., PeerLink]]:
    links: list[PeerLink] = []

    def make(style: str = "oneway", **options: Any) -> PeerLink:
        options = {"max_backoff": 0.02, "flush_interval": 0.0, **options}
        config = PeerConfig(
            name="peer",
            url=URL,
            api_key="k" * 32,
            style=style,  # type: ignore[arg-type]
            **options,
        )
        state = MemoryBackend()
        link = PeerLink(
            config,
            Dispatcher("here", state),
            state,
            "http://here.test/berrymq/rpc/",
            transport=httpx.MockTransport(peer.handle),
        )
        links.append(link)
        return link

    yield make
    for link in links:
        link.close(timeout=0.5)


def send(link: PeerLink, *indexes: int, identifier: str = "order:created") -> None:
    for i in indexes:
        link.enqueue(Message(identifier, (i,), None, "here"))


def wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def test_failed_calls_are_retried_with_backoff_and_sent_once_in_order(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    failures = iter(range(5))

    def flaky(method: str, params: list[Any]) -> Answer | None:
        if method == "send_messages" and next(failures, None) is not None:
            return 503, {"jsonrpc": "2.0", "id": 1, "result": None}
        return None

    peer.script = flaky
    link = make_link()
    link.start()
    send(link, *range(10))

    assert wait(lambda: len(peer.received()) == 10)
    send(link, *range(10, 20))
    assert wait(lambda: len(peer.received()) == 20)
    assert peer.received() == list(range(20))
    assert link.retried == 5
    assert link.status()["dropped"] == 0
    assert wait(lambda: link.status()["state"] == "connected")


def test_the_batch_in_flight_goes_before_anything_newer(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    release = threading.Event()

    def held(method: str, params: list[Any]) -> Answer | None:
        if method == "send_messages" and not release.is_set():
            return 502, {"jsonrpc": "2.0", "id": 1, "result": None}
        return None

    peer.script = held
    link = make_link(batch_size=5)
    link.start()
    send(link, *range(5))
    assert wait(lambda: link.retried >= 2)
    send(link, *range(5, 23))  # buffered behind the batch being retried
    release.set()

    assert wait(lambda: len(peer.received()) == 23)
    assert peer.received() == list(range(23))
    assert all(len(batch) <= 5 for batch in peer.batches)


def test_limit_exceeded_splits_the_batch_and_keeps_to_the_peers_limit(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    def strict(method: str, params: list[Any]) -> Answer | None:
        if method == "send_messages" and len(params[1]) > 10:
            data = {"setting": "MAX_MESSAGES_PER_CALL", "limit": 10, "got": len(params[1])}
            return fail(-32010, "The number of messages is too big", data)
        return None

    peer.script = strict
    link = make_link(batch_size=100)
    send(link, *range(95))  # all buffered before the first call: one batch of 95
    link.start()

    assert wait(lambda: len(peer.received()) == 95)
    assert peer.received() == list(range(95))
    accepted = [len(batch) for batch in peer.batches]
    assert max(accepted) == 10
    sizes = [len(p[1]) for m, p in peer.calls if m == "send_messages"]
    assert sizes[0] == 95 and sum(size > 10 for size in sizes) <= 2  # learnt at once
    assert link.dropped == 0


def test_a_refused_message_is_dropped_alone(
    peer: FakePeer, make_link: Callable[..., PeerLink], caplog: pytest.LogCaptureFixture
):
    def picky(method: str, params: list[Any]) -> Answer | None:
        if method != "send_messages":
            return None
        for index, message in enumerate(params[1]):
            if message["id"] == "order:bad":
                return fail(-32602, f"Invalid params: messages[{index}].id: no", {"index": index})
        return None

    peer.script = picky
    link = make_link()
    send(link, 0, 1)
    send(link, 2, identifier="order:bad")
    send(link, 3, 4)
    with caplog.at_level(logging.ERROR, "berrymq.peers"):
        link.start()
        assert wait(lambda: len(peer.received()) == 4)

    assert peer.received() == [0, 1, 3, 4]
    assert link.dropped == 1
    assert "refused 1 message(s) (order:bad)" in caplog.text


def test_an_unencodable_message_is_dropped_alone(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    link = make_link()
    send(link, 0)
    link.enqueue(Message("order:created", (2**70,), None, "here"))
    send(link, 2)
    link.start()

    assert wait(lambda: len(peer.received()) == 2)
    assert peer.received() == [0, 2]
    assert link.dropped == 1


def test_an_expired_token_connects_again_and_resends(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    link = make_link()
    link.start()
    send(link, 0, 1)
    assert wait(lambda: len(peer.received()) == 2)

    peer.tokens.append("token-after-restart")  # the peer forgot token-1
    send(link, 2, 3)

    assert wait(lambda: len(peer.received()) == 4)
    assert peer.received() == [0, 1, 2, 3]
    assert peer.methods().count("connect_oneway") == 2


def test_a_callback_link_whose_token_is_refused_stops(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    peer.script = lambda method, params: (
        fail(-32000, "invalid token") if method == "send_messages" else None
    )
    link = make_link(style="callback", token="their-token")
    link.start()
    send(link, 0)

    assert wait(lambda: link.status()["state"] == "closed")
    assert "connect_oneway" not in peer.methods()  # a callback cannot connect anew


def test_a_refused_key_keeps_messages_buffered_and_retries(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    peer.script = lambda method, params: fail(-32004, "Invalid API key.", status=401)
    link = make_link()
    link.start()
    send(link, 0, 1, 2)

    assert wait(lambda: link.retried >= 3)
    figures = link.status()
    assert (figures["buffered"], figures["sent"], figures["dropped"]) == (3, 0, 0)
    assert "Unauthorized" in figures["last_error"]


def test_a_oneway_link_says_nothing_before_its_first_message(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    link = make_link()
    link.start()
    time.sleep(0.1)  # nothing may happen: there is no event to wait for
    assert peer.calls == []

    send(link, 0)
    assert wait(lambda: peer.received() == [0])


def test_stop_flushes_a_link_that_never_started(peer: FakePeer, make_link: Callable[..., PeerLink]):
    link = make_link()
    send(link, *range(7))  # a management command twittered; its links never started

    link.stop(time.monotonic() + 5)

    assert peer.received() == list(range(7))
    # The peer keeps our connection: a restarting site finds what it buffered for us.
    assert "close_connection" not in peer.methods()


def test_close_flushes_and_closes_the_connection_on_the_peer(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    link = make_link()
    link.start()
    send(link, 0, 1)

    link.close(timeout=5)

    assert peer.received() == [0, 1]
    assert peer.calls[-1] == ("close_connection", ["token-1"])


def test_stop_gives_up_at_the_deadline_logs_and_counts_what_is_left(
    peer: FakePeer, make_link: Callable[..., PeerLink], caplog: pytest.LogCaptureFixture
):
    peer.script = lambda method, params: (503, {"jsonrpc": "2.0", "id": 1, "result": None})
    link = make_link(max_backoff=5.0)
    link.start()
    send(link, *range(4))
    assert wait(lambda: link.retried >= 1)

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, "berrymq.peers"):
        link.stop(time.monotonic() + 0.5)

    assert time.monotonic() - started < 1.5
    assert link.dropped == 4
    assert "peer (http://peer.test/berrymq/rpc/): stopped with 4 message(s) unsent" in (caplog.text)


def test_a_replacing_link_sends_what_the_old_one_held_first_in_order(peer: FakePeer):
    down = threading.Event()
    down.set()
    peer.script = lambda method, params: (
        (503, {"jsonrpc": "2.0", "id": 1, "result": None}) if down.is_set() else None
    )
    state = MemoryBackend()
    dispatcher = Dispatcher("here", state)
    registry = Peers(dispatcher, state, transport=httpx.MockTransport(peer.handle))
    config = PeerConfig(name="b", url=URL, style="oneway", max_backoff=0.02, batch_size=3)
    registry.start()
    old = registry.add(config)
    for i in range(7):
        dispatcher.twitter("order:created", i)
    assert wait(lambda: old.retried >= 2)

    new = registry.add(config)  # the same peer, configured again
    for i in range(7, 10):
        dispatcher.twitter("order:created", i)
    down.clear()

    assert wait(lambda: len(peer.received()) == 10)
    assert peer.received() == list(range(10))
    assert registry.links() == [new]
    assert old.status()["state"] == "stopped"
    registry.stop(time.monotonic() + 1)


def test_a_callback_link_called_again_on_a_new_token_keeps_its_buffer(peer: FakePeer):
    peer.tokens.append("first")
    state = MemoryBackend()
    dispatcher = Dispatcher("here", state)
    registry = Peers(dispatcher, state, transport=httpx.MockTransport(peer.handle))
    registry.start()
    link = registry.add_callback(URL, "first", 60, "site-a")
    assert link is not None
    dispatcher.twitter("order:created", 0)
    assert wait(lambda: peer.received() == [0])

    peer.tokens.append("second")  # the peer restarted: "first" is refused now
    for i in range(1, 4):
        dispatcher.twitter("order:created", i)
    assert wait(lambda: link.status()["state"] == "closed")
    assert link.status()["buffered"] == 3

    again = registry.add_callback(URL, "second", 60, "site-a")

    assert again is link
    assert wait(lambda: peer.received() == [0, 1, 2, 3])
    assert wait(lambda: link.status()["state"] == "connected")
    registry.stop(time.monotonic() + 1)


def test_the_registry_starts_links_added_while_it_runs_and_stops_them(peer: FakePeer):
    state = MemoryBackend()
    dispatcher = Dispatcher("here", state)
    registry = Peers(dispatcher, state, transport=httpx.MockTransport(peer.handle))
    before = registry.add(PeerConfig(name="before", url=URL, style="oneway"))
    assert before.status()["state"] == "idle"

    registry.start()
    after = registry.add(PeerConfig(name="after", url=URL, style="oneway"))
    assert before.status()["state"] != "idle" and after.status()["state"] != "idle"
    dispatcher.twitter("order:created", 1)
    assert wait(lambda: peer.received() == [1, 1])

    registry.stop(time.monotonic() + 2)
    assert {link.status()["state"] for link in registry.links()} == {"stopped"}


def test_the_link_reports_the_round_trip_of_its_last_successful_call(
    peer: FakePeer, make_link: Callable[..., PeerLink]
):
    def slow_send(method: str, params: list[Any]) -> Answer | None:
        if method == "send_messages":
            time.sleep(0.05)  # the peer takes its time: the round trip is at least this
        return None

    link = make_link()
    assert link.status()["rtt_seconds"] is None  # no call yet
    peer.script = slow_send
    link.start()
    send(link, 0)

    assert wait(lambda: link.status()["sent"] == 1)
    figures = link.status()
    assert figures["rtt_seconds"] >= 0.05
    assert figures["last_success_at"] is not None
    assert figures["last_success_at"] == figures["last_success"]
