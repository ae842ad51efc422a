"""Who starts the peer links: the site when it serves, never a management command.

The links and the call-back sync thread belong to the process lifecycle
(``core.lifecycle``) through the site's one ``Peers`` registry; it starts
with the site and stops, sync thread included, within one deadline.
"""

from __future__ import annotations

import time

import httpx
import pytest

from berrymq_django.apps import management_command, serves_site
from berrymq_django.backends.memory import MemoryBackend
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.lifecycle import lifecycle
from berrymq_django.peering import peers
from berrymq_django.rpc.peers import Peers


@pytest.mark.parametrize(
    ("argv", "environ", "serves"),
    [
        (["/srv/venv/bin/gunicorn", "mysite.wsgi"], {}, True),
        (["/srv/venv/bin/uwsgi", "--ini", "site.ini"], {}, True),
        (["exit_script.py", "500"], {}, True),
        (["/srv/venv/bin/pytest", "tests"], {}, True),
        (["manage.py", "migrate"], {}, False),
        (["./manage.py", "check"], {}, False),
        (["/usr/bin/django-admin", "shell"], {}, False),
        (["/x/site-packages/django/__main__.py", "check"], {}, False),
        (["manage.py"], {}, False),
        (["manage.py", "runserver"], {}, False),  # the autoreloader: its child serves
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),
        (["manage.py", "runserver", "--noreload", "8001"], {}, True),
    ],
)
def test_serves_site(argv: list[str], environ: dict[str, str], serves: bool):
    assert serves_site(argv, environ) is serves


def test_management_command_names_the_command():
    assert management_command(["manage.py", "berrymq_tail", "order:*"]) == "berrymq_tail"
    assert management_command(["gunicorn", "check"]) is None


def test_the_sites_registry_belongs_to_the_lifecycle():
    assert any(service is peers() for service in lifecycle.services())


class SharedState(MemoryBackend):
    """A state that says other processes share it, so the registry syncs call-backs."""

    shared = True  # type: ignore[assignment]


def test_the_callback_sync_thread_runs_with_the_registry_and_stops_with_it():
    state = SharedState()
    registry = Peers(
        Dispatcher("here", state),
        state,
        transport=httpx.MockTransport(lambda r: httpx.Response(503)),
    )

    registry.start()
    thread = registry._sync_thread
    assert thread is not None and thread.is_alive()
    started = time.monotonic()
    registry.stop(time.monotonic() + 2)

    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0  # it does not sleep out its interval
    assert registry._sync_thread is None
