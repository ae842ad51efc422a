"""RedisBackend's threads belong to the lifecycle: they start with the site, stop by a deadline.

Each test puts a lifecycle of its own in place of the process's one, so that
starting and stopping it touches only the backends the test makes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis

import berrymq_django.backends.redis as redis_backend
from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.lifecycle import Lifecycle
from tests.support import eventually, free_port

from .test_redis_backend import threads_of


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lifecycle]:
    """The lifecycle the Redis backends made in this test belong to."""
    own = Lifecycle()
    monkeypatch.setattr(redis_backend, "lifecycle", own)
    yield own
    for backend in own.services():
        backend.close()  # type: ignore[attr-defined]


def test_a_backend_starts_when_bound_and_stops_and_starts_with_the_site(site, redis_url, prefix):
    backend = RedisBackend(URL=redis_url, PREFIX=prefix)
    assert threads_of(backend) == []  # built: nothing runs, nothing connects
    dispatcher = Dispatcher(backend=backend)
    assert len(threads_of(backend)) == 2  # bound: it receives, site started or not
    eventually(lambda: backend.connected)

    site.stop(timeout=3)
    assert threads_of(backend) == [] and not backend.connected
    dispatcher.twitter("job:run", 1)  # stopped, not closed: kept for a restart
    assert backend.status()["buffered"] == 1 and threads_of(backend) == []

    site.start()
    eventually(lambda: backend.status()["buffered"] == 0)
    assert backend.status()["published"] == 1


def test_a_backend_built_after_the_site_started_waits_to_be_bound(site, redis_url, prefix):
    site.start()
    backend = RedisBackend(URL=redis_url, PREFIX=prefix)
    assert threads_of(backend) == []  # not bound yet: nothing to hand messages to

    Dispatcher(backend=backend)

    assert len(threads_of(backend)) == 2


def test_stopping_the_site_flushes_what_is_buffered(site, redis_url, prefix):
    backend = RedisBackend(URL=redis_url, PREFIX=prefix)
    dispatcher = Dispatcher(backend=backend)
    site.start()
    for i in range(2000):
        dispatcher.twitter("job:run", i)

    site.stop(timeout=5)

    assert backend.status()["published"] == 2000
    assert threads_of(backend) == []


def test_stop_keeps_its_deadline_and_logs_what_it_leaves(site, caplog):
    backend = RedisBackend(URL=f"redis://127.0.0.1:{free_port()}/0", CONNECT_TIMEOUT=0.2)
    dispatcher = Dispatcher(backend=backend)
    site.start()
    for i in range(10):
        dispatcher.twitter("job:run", i)

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="berrymq"):
        site.stop(timeout=1)

    assert time.monotonic() - started < 1.5
    assert threads_of(backend) == []
    assert "stopped with 10 message(s) for other processes unsent" in caplog.text
    assert backend.status()["buffered"] == 10  # counted, not dropped silently


def test_a_closed_backend_leaves_the_lifecycle(site, redis_url, prefix):
    backend = RedisBackend(URL=redis_url, PREFIX=prefix)
    Dispatcher(backend=backend)
    assert backend in site.services()

    backend.close()

    assert backend not in site.services()
    site.start()
    assert threads_of(backend) == []


AT_EXIT_SCRIPT = """
import atexit, sys

def late():  # registered first, so it runs after berryMQ stopped its services
    message = dispatcher.twitter("job:late", 1)
    print("twittered", message.id, "dropped", backend.status()["dropped"], flush=True)

atexit.register(late)

from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.dispatcher import Dispatcher

backend = RedisBackend(URL=sys.argv[1], PREFIX=sys.argv[2])
dispatcher = Dispatcher(backend=backend)
assert backend.ready(10)
"""


def test_a_message_sent_after_the_exit_stop_is_counted_and_logged(redis_url, prefix):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", AT_EXIT_SCRIPT, redis_url, prefix],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "twittered job:late dropped 1" in done.stdout
    assert "'job:late' sent after the backend stopped" in done.stderr
    assert "1 such message(s) dropped" in done.stderr


EXIT_WHILE_REDIS_IS_DOWN = """
import sys

from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.dispatcher import Dispatcher

backend = RedisBackend(URL=sys.argv[1], PREFIX=sys.argv[2], CONNECT_TIMEOUT=0.2)
dispatcher = Dispatcher(backend=backend)
assert backend.ready(10)
print("ready", flush=True)
sys.stdin.readline()  # the test stopped Redis
for i in range(25):
    dispatcher.twitter("job:run", i)
print("exiting", flush=True)
"""


def test_exit_while_redis_is_down_flushes_until_the_deadline(own_redis, prefix):
    """The sender used to give up at the first failed try: Redis back 0.3 s later found nothing."""
    import subprocess
    import sys

    from berrymq_django.backends.redis.codec import decode_batch
    from berrymq_django.backends.redis.wire import Keys

    producer = subprocess.Popen(
        [sys.executable, "-c", EXIT_WHILE_REDIS_IS_DOWN, own_redis.url, prefix],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert producer.stdout is not None and producer.stdin is not None
        assert producer.stdout.readline() == "ready\n"
        own_redis.stop()
        producer.stdin.write("go\n")
        producer.stdin.flush()
        assert producer.stdout.readline() == "exiting\n"
        own_redis.start()  # while the exiting process still tries (the stop deadline is 5 s)
        _, stderr = producer.communicate(timeout=30)
    finally:
        producer.kill()
    assert producer.returncode == 0, stderr
    assert "unsent" not in stderr, stderr

    client = redis.Redis.from_url(own_redis.url)
    try:
        entries = client.xrange(Keys(prefix).stream)
    finally:
        client.close()
    sent = [item["args"][0] for _, fields in entries for item in decode_batch(fields[b"m"])]
    assert sent == list(range(25))
