"""The site the clients are tested against: a gunicorn process with the endpoint and staff logins.

``clients_site`` starts it once per module (tests/clients/site_settings.py,
siteapp/): API key ``KEY`` for principal "js", a staff user ``STAFF`` with
``PASSWORD`` in a SQLite file of its own, a Python follower recording every
message (GET /received/?id=...) and one answering ``talk("price:quote")``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SiteProcess
from tests.support.sites import ROOT

KEY = "test-key-js-0123456789abcdef0123456789abcdef"
STAFF = "ada"
PASSWORD = "a-staff-password-for-tests"
CREATE_STAFF = (
    "from django.contrib.auth.models import User; "
    f"User.objects.create_user({STAFF!r}, password={PASSWORD!r}, is_staff=True)"
)


def manage(site: SiteProcess, *args: str) -> None:
    """Run a django-admin command against the site's settings; fail with its output."""
    command = [sys.executable, "-m", "django", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=site.environ(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def clients_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteProcess]:
    """A started site (see the module docstring); its log is shown when a test fails."""
    workdir: Path = tmp_path_factory.mktemp("clients-site")
    site = SiteProcess(
        "clients",
        app="tests.clients.site_wsgi:application",
        settings="tests.clients.site_settings",
        ready="/received/?id=-",
        env={
            "BERRYMQ_CLIENTS_KEYS": json.dumps({"js": KEY}),
            "BERRYMQ_CLIENTS_DB": str(workdir / "db.sqlite3"),
        },
        # Every long poll holds a thread: room for the followers and queues of the tests.
        gunicorn={"worker_class": "gthread", "threads": 32},
        workdir=workdir,
    )
    manage(site, "migrate", "--noinput")
    manage(site, "shell", "-c", CREATE_STAFF)
    with site:
        yield site
