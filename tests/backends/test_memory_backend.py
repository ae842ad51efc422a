"""MemoryBackend, the default: messages, shared queues and JSON-RPC state in one process."""

from __future__ import annotations

from queue import Empty

import pytest

from berrymq_django.backends.memory import MemoryBackend
from berrymq_django.backends.memory_state import MAX_REMEMBERED_UIDS, MemoryConnectionState
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.queue import Queue
from berrymq_django.rpc.connections import Connection, new_token


def queue_connection(identifier: str = "order:*", maxsize: int = 0) -> Connection:
    return Connection(
        token=new_token(),
        principal="alice",
        style="queue",
        ttl=60,
        identifier=identifier,
        maxsize=maxsize,
    )


def test_options_are_refused_naming_them():
    with pytest.raises(TypeError, match="'URL'"):
        MemoryBackend(URL="redis://127.0.0.1:6379/0")


def test_it_carries_nothing_and_shares_nothing():
    backend = MemoryBackend()
    assert backend.forwards is False
    assert backend.options == {}
    assert backend.connection_state.shared is False
    assert backend.status()["connected"] is True


def test_binding_hands_the_dispatcher_to_the_state_for_queue_connections():
    backend = MemoryBackend()
    dispatcher = Dispatcher(backend=backend)
    state = backend.connection_state
    connection = queue_connection("order:*", maxsize=2)
    state.open_connection(connection)

    for i in range(3):
        dispatcher.twitter("order:created", i)
    dispatcher.twitter("_order:created", "local")  # never leaves the process
    dispatcher.twitter("user:created", "not matching")

    queue = state.connection_queue(connection)
    assert [queue.get_nowait().args[0] for _ in range(queue.qsize())] == [1, 2]
    assert state.close_connection(connection.token) is True
    dispatcher.twitter("order:created", 3)
    assert queue.qsize() == 0


def test_a_queue_connection_needs_a_bound_state():
    with pytest.raises(RuntimeError, match="bind"):
        MemoryConnectionState().open_connection(queue_connection())


def test_closing_the_backend_closes_every_queue_connection():
    backend = MemoryBackend()
    dispatcher = Dispatcher(backend=backend)
    connection = queue_connection()
    backend.connection_state.open_connection(connection)
    queue = backend.connection_state.connection_queue(connection)

    backend.close()

    dispatcher.twitter("order:created", 1)
    assert queue.qsize() == 0
    assert backend.connection_state.connections() == []


def test_accept_uids_takes_the_first_of_a_repeat_and_forgets_after_the_window():
    state = MemoryConnectionState()
    assert state.accept_uids(["a", "b", "a"], 60) == {"a": True, "b": True}
    assert state.accept_uid("a", 60) is False
    assert state.accept_uid("a", 0) is True  # a window of 0 remembers nothing
    assert MAX_REMEMBERED_UIDS >= 100_000


def test_delete_closes_a_shared_queue_kept_in_memory():
    dispatcher = Dispatcher(backend=MemoryBackend())
    tasks = Queue("task:*", shared=True, dispatcher=dispatcher)
    dispatcher.twitter("task:run", 1)

    tasks.delete()

    assert tasks.closed
    dispatcher.twitter("task:run", 2)
    assert tasks.get_nowait().args == (1,)  # drains what it held, as close() does
    with pytest.raises(Empty):
        tasks.get_nowait()
