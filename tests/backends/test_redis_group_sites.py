"""Follower groups across real processes: ``gunicorn -w 3`` on Redis, workers killed and stopped.

One site (tests/backends/siteapp, three sync workers) serves the whole
module; its grouped followers append what they run to one file per worker
(siteapp/receivers.py), which outlives a worker killed with SIGKILL. This
test process sends, as one more process on the site's prefix (it has no
member: a sender needs none).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from berrymq_django.backends.redis import RedisBackend
from berrymq_django.backends.redis.wire import CONSUMER_GROUP
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.identifier import Identifier
from tests.support import complete_lines, eventually

from .conftest import delete_prefix, require_redis
from .sites import Site

CLAIM_SECONDS = 2.0
STREAM = 10_000


class Records:
    """What the site's followers wrote: one "<kind> <pid> <uid> <identifier>" line each."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def lines(self, kind: str, identifier: str | None = None) -> list[tuple[int, str]]:
        """Return (pid, uid) of every record of kind (for identifier, when given)."""
        found = []
        for path in self.directory.glob("*.log"):
            for line in complete_lines(path):
                parts = line.split()
                wanted = identifier is None or parts[3:] == [identifier]
                if len(parts) == 4 and parts[0] == kind and wanted:
                    found.append((int(parts[1]), parts[2]))
        return found

    def uids(self, kind: str, identifier: str) -> Counter[str]:
        return Counter(uid for _, uid in self.lines(kind, identifier))

    def pids(self, kind: str, identifier: str) -> Counter[int]:
        return Counter(pid for pid, _ in self.lines(kind, identifier))


@pytest.fixture(scope="module")
def site_prefix() -> Iterator[tuple[str, str]]:
    url = require_redis()
    prefix = f"berrymq-test-{uuid.uuid4().hex[:12]}"
    yield url, prefix
    delete_prefix(url, prefix)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Records:
    return Records(tmp_path_factory.mktemp("group-records"))


@pytest.fixture(scope="module")
def site(site_prefix: tuple[str, str], records: Records) -> Iterator[Site]:
    url, prefix = site_prefix
    env = {"BERRYMQ_SITE_CLAIM": str(CLAIM_SECONDS), "BERRYMQ_SITE_RECORDS": str(records.directory)}
    site = Site(url, prefix, env=env)
    site.start()
    try:
        yield site
    finally:
        site.close(show_log=True)


@pytest.fixture
def sender(site_prefix: tuple[str, str]) -> Iterator[Dispatcher]:
    url, prefix = site_prefix
    backend = RedisBackend(URL=url, PREFIX=prefix, BUFFER_SIZE=4 * STREAM)
    assert backend.ready(5.0), backend.status()
    yield Dispatcher(backend=backend)
    backend.close()


@pytest.fixture
def raw(site_prefix: tuple[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(site_prefix[0])
    yield client
    client.close()


def workers_ready(site: Site) -> dict[int, dict[str, Any]]:
    """Ask until three live workers answer that they read their streams: pid -> answer."""
    answers: dict[int, dict[str, Any]] = site.from_every_worker(
        "/ready/", lambda a: a["ready"], hold=0.2
    )
    live = {pid: a for pid, a in answers.items() if _alive(pid)}
    assert len(live) >= 3, answers
    return live


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def send(sender: Dispatcher, identifier: str, count: int, start: int = 0) -> list[str]:
    uids = [sender.twitter(identifier, i).uid for i in range(start, start + count)]
    assert sender.backend.flush(20), sender.backend.status()
    return uids


def grouped_stream(site_prefix: tuple[str, str]) -> str:
    return f"{site_prefix[1]}:g:recorders:{Identifier('grouped:*').text}"


# -- the tests -------------------------------------------------------------------------------


def test_three_workers_share_a_grouped_stream_and_run_each_message_once(
    site: Site, sender: Dispatcher, records: Records
) -> None:
    pids = workers_ready(site)
    sent = send(sender, "grouped:share", STREAM)

    eventually(
        lambda: len(records.lines("grouped", "grouped:share")),
        until=lambda n: n >= STREAM,
        timeout=60,
        interval=0.2,
    )
    assert records.uids("grouped", "grouped:share") == Counter(sent)  # each exactly once
    shares = records.pids("grouped", "grouped:share")
    print(f"\nshares of {STREAM} grouped messages by worker: {dict(shares)}")
    assert set(shares) == set(pids)  # all three took a share
    assert min(shares.values()) >= STREAM // 20


def test_a_killed_worker_loses_nothing_and_repeats_at_most_what_it_held(
    site: Site,
    sender: Dispatcher,
    records: Records,
    raw: redis.Redis,
    site_prefix: tuple[str, str],
) -> None:
    pids = workers_ready(site)
    half = STREAM // 2
    sent = send(sender, "grouped:kill", half)
    eventually(
        lambda: records.pids("grouped", "grouped:kill"),
        until=lambda by_pid: sum(by_pid.values()) >= half // 5 and len(by_pid) >= 2,
        interval=0.005,
    )
    victim = records.pids("grouped", "grouped:kill").most_common(1)[0][0]
    os.kill(victim, signal.SIGKILL)
    token = pids[victim]["token"]
    summary: Any = raw.xpending(grouped_stream(site_prefix), CONSUMER_GROUP)
    held = next((int(c["pending"]) for c in summary["consumers"] if c["name"] == token.encode()), 0)
    sent += send(sender, "grouped:kill", half, start=half)

    eventually(
        lambda: set(records.uids("grouped", "grouped:kill")),
        until=lambda done: done >= set(sent),
        timeout=60,
        interval=0.2,
    )
    uids = records.uids("grouped", "grouped:kill")
    duplicates = sum(uids.values()) - len(uids)
    print(
        f"\nSIGKILL: worker {victim} held {held} unacknowledged; "
        f"{duplicates} message(s) ran twice; lost 0 of {len(sent)}"
    )
    assert set(uids) == set(sent)  # none lost
    assert duplicates <= held
    assert max(uids.values()) <= 2


def test_a_worker_stopped_gracefully_loses_nothing_and_repeats_nothing(
    site: Site, sender: Dispatcher, records: Records
) -> None:
    workers_ready(site)
    half = STREAM // 2
    sent = send(sender, "grouped:term", half)
    eventually(
        lambda: records.pids("grouped", "grouped:term"),
        until=lambda by_pid: sum(by_pid.values()) >= half // 5 and len(by_pid) >= 2,
        interval=0.005,
    )
    victim = records.pids("grouped", "grouped:term").most_common(1)[0][0]
    os.kill(victim, signal.SIGTERM)
    sent += send(sender, "grouped:term", half, start=half)

    eventually(
        lambda: set(records.uids("grouped", "grouped:term")),
        until=lambda done: done >= set(sent),
        timeout=60,
        interval=0.2,
    )
    eventually(lambda: _alive(victim), until=lambda alive: not alive, timeout=15)
    uids = records.uids("grouped", "grouped:term")
    print(f"\nSIGTERM: worker {victim} ran {records.pids('grouped', 'grouped:term')[victim]}")
    assert set(uids) == set(sent)
    assert max(uids.values()) == 1  # no duplicates


def test_a_grouped_follower_runs_once_and_a_plain_one_in_every_worker(
    site: Site, sender: Dispatcher, records: Records
) -> None:
    pids = workers_ready(site)
    uids = send(sender, "mixed:ping", 5)

    eventually(lambda: len(records.lines("mixed-plain", "mixed:ping")), until=lambda n: n >= 15)
    eventually(lambda: len(records.lines("mixed-grouped", "mixed:ping")), until=lambda n: n >= 5)
    assert records.uids("mixed-grouped", "mixed:ping") == Counter(uids)
    assert records.uids("mixed-plain", "mixed:ping") == Counter({uid: 3 for uid in uids})
    assert set(records.pids("mixed-plain", "mixed:ping")) == set(pids)


def test_a_failing_follower_ends_as_a_dead_letter_and_berrymq_dead_retry_runs_it_once(
    site: Site, sender: Dispatcher, records: Records, raw: redis.Redis
) -> None:
    workers_ready(site)
    failing = records.directory / "failing"
    failing.touch()
    (uid,) = send(sender, "flaky:job", 1)
    dead_letters = sender.backend.dead_letters  # type: ignore[attr-defined]
    eventually(dead_letters.counts, until=lambda c: c == {"flaky": 1}, timeout=20)
    assert records.uids("flaky-call", "flaky:job") == {uid: 3}  # GROUP_MAX_ATTEMPTS
    assert "flaky is failing" in manage(site, "berrymq_dead", "list").stdout

    failing.unlink()
    retried = manage(site, "berrymq_dead", "retry", "--group", "flaky")
    assert retried.stdout == "group flaky: 1 handed back.\n", retried.stderr
    eventually(lambda: records.uids("flaky-ok", "flaky:job"), until=lambda c: c == {uid: 1})
    assert dead_letters.counts() == {}
    assert records.uids("flaky-call", "flaky:job") == {uid: 4}


def manage(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a management command with the site's settings (one more process on its prefix)."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=site.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
