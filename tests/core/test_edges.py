"""The core at its edges: pool changes, fork, interpreter exit, and the one error rule.

Each test is one input of a kind of fault that used to lose, hang or leak:
the pool's state must never make twitter() raise or lose a message, a
forked child must behave like a fresh process, and a follower's failure is
contained the same way on every path.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.message import Message

from . import DEADLINE, Recorder

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


class RelayRecorder:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def relay(self, message: Message) -> None:
        self.ids.append(message.id)


# -- the pool's state never reaches the sender --------------------------------------------


def test_toggling_multiplicity_never_makes_twitter_raise_or_lose():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("load:tick", rec.fn)
    stop = threading.Event()
    errors: list[BaseException] = []
    sent: list[str] = []

    def sender() -> None:
        try:
            for i in range(2_000):
                sent.append(dispatcher.twitter("load:tick", i).uid)
        except BaseException as exc:
            errors.append(exc)

    def toggler() -> None:
        while not stop.is_set():
            dispatcher.set_multiplicity(4)
            dispatcher.set_multiplicity(0)

    toggling = threading.Thread(target=toggler)
    toggling.start()
    senders = [threading.Thread(target=sender) for _ in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(DEADLINE * 3)
    stop.set()
    toggling.join(DEADLINE)
    dispatcher.set_multiplicity(0)  # waits for what the last pool holds

    assert errors == []
    assert sorted(m.uid for m in rec.messages) == sorted(sent)


def _run_python(code: str, timeout: float = DEADLINE * 2) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )


@pytest.mark.parametrize("multiplicity", [0, 2])
def test_twitter_from_an_atexit_handler_is_delivered(multiplicity):
    result = _run_python(
        f"""
        import atexit
        from berrymq_django.core.dispatcher import Dispatcher

        dispatcher = Dispatcher()
        dispatcher.set_multiplicity({multiplicity})
        dispatcher.register_function("app:bye", lambda m: print("delivered", m.args[0]))
        dispatcher.twitter("app:bye", "before")  # the pool has run

        def goodbye():
            dispatcher.twitter("app:bye", "at-exit")

        atexit.register(goodbye)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "delivered at-exit" in result.stdout


# -- a forked child is a fresh process ----------------------------------------------------


@needs_fork
def test_forked_child_delivers_after_the_parent_used_the_pool():
    result = _run_python(
        """
        import os
        from berrymq_django.core.dispatcher import Dispatcher

        dispatcher = Dispatcher()
        dispatcher.set_multiplicity(2)
        got = []
        dispatcher.register_function("a:b", lambda m: got.append(m.args[0]))
        dispatcher.twitter("a:b", "parent")
        dispatcher.set_multiplicity(2)  # a live pool at the fork
        dispatcher.twitter("a:b", "parent-again")
        pid = os.fork()
        if pid == 0:
            got.clear()
            dispatcher.twitter("a:b", "child")
            dispatcher.set_multiplicity(0)  # wait for the child's deliveries
            os._exit(0 if got == ["child"] else 3)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "child exit 0" in result.stdout


@needs_fork
def test_fork_while_another_thread_registers_never_hangs_the_child():
    # A registration thread holds the dispatcher's lock often; every fork must
    # still give a child whose first twitter() returns.
    result = _run_python(
        """
        import os, threading, time
        from berrymq_django.core.dispatcher import Dispatcher

        dispatcher = Dispatcher()
        stop = threading.Event()

        def churn():
            while not stop.is_set():
                fn = lambda m: None
                dispatcher.register_function("x:y", fn)
                dispatcher.unregister(fn)

        thread = threading.Thread(target=churn, daemon=True)
        thread.start()
        hung = 0
        for _ in range(40):
            pid = os.fork()
            if pid == 0:
                got = []
                dispatcher.register_function("a:b", got.append)
                dispatcher.twitter("a:b")
                os._exit(0 if len(got) == 1 else 3)
            deadline = time.monotonic() + 5
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    assert os.waitstatus_to_exitcode(status) == 0
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    hung += 1
                    break
                time.sleep(0.01)
        stop.set()
        print("hung", hung)
        """,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "hung 0" in result.stdout


@needs_fork
def test_forked_child_takes_its_own_default_node_name():
    dispatcher = Dispatcher()
    named = Dispatcher(node_name="fixed")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write, f"{dispatcher.node_name}|{named.node_name}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child_default, child_named = pipe.read().split("|")
    assert child_default.endswith(f"-{pid}")
    assert child_named == "fixed"


# -- one error rule on every path -----------------------------------------------------------


def _boom_guard(message: Message) -> bool:
    raise RuntimeError("guard exploded")


async def test_atwitter_contains_an_async_followers_guard_error():
    dispatcher = Dispatcher()
    relay = RelayRecorder()
    dispatcher.add_relay(relay)
    later = Recorder()

    async def guarded(message: Message) -> None:  # pragma: no cover - never called
        raise AssertionError("the guard failed: the follower must not run")

    dispatcher.register_function("a:b", guarded, guard_condition=_boom_guard)
    dispatcher.register_function("a:b", later.fn)

    await dispatcher.atwitter("a:b")

    assert later.count == 1
    assert relay.ids == ["a:b"]
    assert dispatcher.error_count == 1


@pytest.mark.parametrize("path", ["twitter", "talk", "send", "receive"])
def test_a_guard_error_is_contained_on_every_sync_path(path):
    dispatcher = Dispatcher()
    later = Recorder()
    dispatcher.register_function("a:b", lambda m: None, guard_condition=_boom_guard)
    dispatcher.register_function("a:b", later.fn)

    if path == "twitter":
        dispatcher.twitter("a:b")
    elif path == "talk":
        dispatcher.talk("a:b", "a:reply")
    else:
        getattr(dispatcher, path)(Message("a:b", (), {}, "elsewhere"))

    assert later.count == 1
    assert dispatcher.error_count == 1


async def _async_guard(message: Message) -> bool:  # pragma: no cover - refused, never run
    return False


class _AsyncCallGuard:
    async def __call__(self, message: Message) -> bool:  # pragma: no cover - refused
        return False


@pytest.mark.parametrize("guard", [_async_guard, _AsyncCallGuard()], ids=["def", "__call__"])
def test_an_async_guard_is_refused_when_registered(guard):
    """An awaitable is truthy: an async guard would let every message through, unasked."""
    dispatcher = Dispatcher()

    with pytest.raises(TypeError, match=r"guard_condition \S*_[Aa]sync\w* is async"):
        dispatcher.register_function("a:b", lambda m: None, guard_condition=guard)
    assert dispatcher.show_followers() == []


@pytest.mark.filterwarnings("error::RuntimeWarning")  # "coroutine ... was never awaited"
@pytest.mark.parametrize("path", ["twitter", "atwitter", "talk", "send"])
def test_a_guard_that_returns_an_awaitable_fails_each_delivery_counted(path, caplog):
    dispatcher = Dispatcher()
    guarded, later = Recorder(), Recorder()
    dispatcher.register_function("a:b", guarded.fn, guard_condition=lambda m: _async_guard(m))
    dispatcher.register_function("a:b", later.fn)

    if path == "atwitter":
        asyncio.run(dispatcher.atwitter("a:b"))
    elif path == "talk":
        dispatcher.talk("a:b", "a:reply")
    elif path == "send":
        dispatcher.send(Message("a:b", (), {}, "elsewhere"))
    else:
        dispatcher.twitter("a:b")

    assert (guarded.count, later.count, dispatcher.error_count) == (0, 1, 1)
    assert "returned an awaitable" in caplog.text


def test_raise_errors_on_the_pool_is_logged_counted_and_later_followers_run(caplog):
    dispatcher = Dispatcher(raise_errors=True)
    later = Recorder()

    def failing(message: Message) -> None:
        raise RuntimeError("follower failed on the pool")

    dispatcher.register_function("a:b", failing)
    dispatcher.register_function("a:b", later.fn)
    dispatcher.set_multiplicity(2)
    dispatcher.twitter("a:b")
    dispatcher.set_multiplicity(0)  # wait for the pool

    assert later.count == 1
    assert dispatcher.error_count == 1
    assert "follower failed on the pool" in caplog.text


def test_a_message_from_another_process_never_raises_into_the_transport():
    dispatcher = Dispatcher(raise_errors=True)
    later = Recorder()

    def failing(message: Message) -> None:
        raise RuntimeError("follower failed")

    dispatcher.register_function("a:b", failing)
    dispatcher.register_function("a:b", later.fn)
    dispatcher.receive(Message("a:b", (), {}, "elsewhere"))
    assert later.count == 1
    assert dispatcher.error_count == 1


def test_stopping_a_pool_then_sending_delivers_in_the_caller():
    from berrymq_django.core.pool import DeliveryPool

    pool = DeliveryPool(2)
    done = threading.Event()
    assert pool.submit(done.set)
    assert done.wait(DEADLINE)
    pool.stop(time.monotonic() + DEADLINE)
    assert pool.submit(done.set) is False


async def test_atwitter_runs_sync_and_async_followers_in_order_with_errors_contained():
    dispatcher = Dispatcher()
    order: list[str] = []

    def first(message: Message) -> None:
        order.append("sync")
        raise RuntimeError("sync failed")

    async def second(message: Message) -> None:
        await asyncio.sleep(0)
        order.append("async")

    dispatcher.register_function("a:b", first)
    dispatcher.register_function("a:b", second)
    await dispatcher.atwitter("a:b")
    assert order == ["sync", "async"]
    assert dispatcher.error_count == 1


# -- bad waits and re-entrant pool changes --------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "error"), [(float("nan"), ValueError), (-1, ValueError), ("1", TypeError)]
)
def test_a_bad_get_timeout_is_refused_naming_it(timeout, error):
    from berrymq_django.core.queue import Queue

    queue = Queue("a:b", dispatcher=Dispatcher())
    with pytest.raises(error, match="timeout"):
        queue.get(timeout=timeout)


@pytest.mark.parametrize("timeout", [float("inf"), 1e300])
def test_an_endless_get_timeout_waits_without_overflowing(timeout):
    from berrymq_django.core.queue import Queue

    dispatcher = Dispatcher()
    queue = Queue("a:b", dispatcher=dispatcher)
    threading.Timer(0.05, dispatcher.twitter, ("a:b",)).start()
    assert queue.get(timeout=timeout).id == "a:b"


def test_a_follower_on_the_pool_may_change_the_multiplicity():
    dispatcher = Dispatcher(raise_errors=True)
    done = threading.Event()

    def switch_off(message: Message) -> None:
        dispatcher.set_multiplicity(0)
        done.set()

    dispatcher.register_function("a:b", switch_off)
    dispatcher.set_multiplicity(2)
    dispatcher.twitter("a:b")
    assert done.wait(DEADLINE)
    assert dispatcher.multiplicity == 0
    assert dispatcher.error_count == 0


@needs_fork
def test_a_default_node_name_set_again_follows_the_pid_after_fork():
    dispatcher = Dispatcher(node_name="configured")
    dispatcher.use_default_node_name()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write, dispatcher.node_name.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        assert pipe.read().endswith(f"-{pid}")
