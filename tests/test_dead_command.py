"""``manage.py berrymq_dead`` on the in-memory backend, and the mistakes it refuses.

With Redis, where dead letters exist, see tests/backends/test_redis_dead_letters_command.py.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def run(*args: str) -> str:
    out = StringIO()
    call_command("berrymq_dead", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("action", ["list", "retry", "purge"])
def test_the_memory_backend_has_none_and_says_why(action: str) -> None:
    said = run(action)
    assert said.startswith("There are no dead letters with the MemoryBackend")
    assert "without retrying" in said
    assert "Redis backend" in said


def test_a_bad_group_name_is_refused_naming_it() -> None:
    with pytest.raises(CommandError, match=r"--group: .*'no such'"):
        run("list", "--group", "no such")


def test_a_bad_limit_is_refused() -> None:
    with pytest.raises(CommandError, match="--limit must be a positive int, not 0"):
        run("list", "--limit", "0")


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'show'"):
        run("show")
