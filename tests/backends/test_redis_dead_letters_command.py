"""``manage.py berrymq_dead`` and the GROUP_* settings, on the default dispatcher.

The default dispatcher is put on Redis by ``override_settings`` (as a site's
settings would); another backend on the same prefix stands for a worker
process whose grouped follower fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from berrymq_django.backends.base import GroupPolicy
from berrymq_django.backends.redis import RedisBackend
from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.message import Message
from tests.support import eventually

REDIS_BACKEND = "berrymq_django.backends.redis.RedisBackend"


def run(*args: str) -> str:
    out = StringIO()
    call_command("berrymq_dead", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def site(redis_url: str, prefix: str) -> Iterator[RedisBackend]:
    """The default dispatcher on Redis, with quick claims and two attempts."""
    conf = {
        "BACKEND": REDIS_BACKEND,
        "BACKEND_OPTIONS": {"URL": redis_url, "PREFIX": prefix},
        "GROUP_CLAIM_SECONDS": 1.5,
        "GROUP_MAX_ATTEMPTS": 2,
        "GROUP_MAXLEN": 500,
        "GROUP_DEAD_LETTERS": 7,
    }
    with override_settings(BERRYMQ=conf):
        backend = default_dispatcher.backend
        assert isinstance(backend, RedisBackend)
        yield backend


def failing_worker(make_dispatcher: Any, group: str, pattern: str) -> Dispatcher:
    worker = make_dispatcher()
    worker.backend.configure_groups(GroupPolicy(claim_seconds=1.0, max_attempts=2))

    def refuse(message: Message) -> None:
        raise RuntimeError(f"cannot {message.id} {list(message.args)}")

    worker.register_function(pattern, refuse, group=group)
    worker.refuse = refuse  # type: ignore[attr-defined]
    return worker


def test_the_group_settings_reach_the_backend(site: RedisBackend) -> None:
    assert site.group_policy == GroupPolicy(
        claim_seconds=1.5, max_attempts=2, maxlen=500, dead_letters=7
    )
    assert site.transport.sender.group_maxlen == 500


def test_list_retry_and_purge_dead_letters(site: RedisBackend, make_dispatcher: Any) -> None:
    worker = failing_worker(make_dispatcher, "stock", "order:*")
    failing_worker(make_dispatcher, "mail", "*:created")
    default_dispatcher.twitter("order:created", 41)
    default_dispatcher.twitter("order:paid", 42)
    eventually(site.dead_letters.counts, until=lambda c: c == {"mail": 1, "stock": 2}, timeout=10)

    listing = run("list")
    assert "group mail: 1 dead letter(s)" in listing
    assert "group stock: 2 dead letter(s)" in listing
    assert "order:paid args=[42] kwargs={}" in listing
    assert "2 attempts" in listing
    assert "RuntimeError: cannot order:paid [42]" in listing
    assert "Traceback" not in listing
    assert "Traceback" in run("list", "--group", "stock", "--verbosity", "2")
    assert "mail" not in run("list", "--group", "stock")
    assert "... and 1 more" in run("list", "--group", "stock", "--limit", "1")

    got: list[Message] = []
    worker.unregister(worker.refuse)  # type: ignore[attr-defined]
    worker.register_function("order:*", got.append, group="stock")
    assert run("retry", "--group", "stock") == "group stock: 2 handed back.\n"
    eventually(lambda: sorted(m.args for m in got), until=lambda a: a == [(41,), (42,)])
    assert site.dead_letters.counts() == {"mail": 1}

    assert run("purge", "--yes") == "Deleted 1 dead letter(s): mail (1).\n"
    assert run("list") == "No dead letters.\n"
    assert run("retry") == "No dead letters.\n"


def test_retry_says_which_have_no_member_to_go_to(site: RedisBackend, make_dispatcher: Any) -> None:
    worker = failing_worker(make_dispatcher, "jobs", "job:*")
    default_dispatcher.twitter("job:run")
    eventually(site.dead_letters.counts, until=lambda c: c == {"jobs": 1}, timeout=10)
    worker.unregister(worker.refuse)  # type: ignore[attr-defined]
    assert run("retry") == (
        "group jobs: 0 handed back, 1 left: no running process has a member of group "
        "'jobs' following them.\n"
    )


def test_purge_asks_first(
    site: RedisBackend, make_dispatcher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_worker(make_dispatcher, "jobs", "job:*")
    default_dispatcher.twitter("job:run")
    eventually(site.dead_letters.counts, until=lambda c: c == {"jobs": 1}, timeout=10)

    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert run("purge") == "Nothing deleted.\n"
    assert site.dead_letters.counts() == {"jobs": 1}

    def no_terminal(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_terminal)
    with pytest.raises(CommandError, match="--yes"):
        run("purge", "--group", "jobs")
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert run("purge", "--group", "jobs") == "Deleted 1 dead letter(s): jobs (1).\n"


def test_an_unreachable_redis_is_one_line_naming_it(redis_url: str) -> None:
    conf = {"BACKEND": REDIS_BACKEND, "BACKEND_OPTIONS": {"URL": "redis://127.0.0.1:1/0"}}
    with override_settings(BERRYMQ=conf), pytest.raises(CommandError, match=r"127\.0\.0\.1:1"):
        run("list")
