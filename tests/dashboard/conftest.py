"""The dashboard's test site (gunicorn, Redis, the admin) and a real Chromium to drive it.

``site`` runs tests/dashboard/site_settings.py under gunicorn for the whole
module: migrated SQLite with a staff user ("staff") and a non-staff one
("clerk"), the Redis backend under a prefix of its own, an API key for the
test ("tester") and a peer nobody answers. ``browser`` is Selenium driving
Debian's chromium and chromedriver, headless, with a fresh profile; it skips
when they are missing, unless BERRYMQ_REQUIRE_BROWSER=1 (set by .ci/run),
which makes that a failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from berrymq_django.peering import send_to
from tests.backends.conftest import delete_prefix, require_redis
from tests.support import SiteProcess, free_port

PASSWORD = "dashboard-pass-8462"
API_KEY = "tester-key-" + uuid.uuid4().hex
SCREENSHOTS = os.environ.get("BERRYMQ_SCREENSHOTS")  # a directory to keep them in, if set

CREATE_USERS = f"""
from django.contrib.auth.models import User
User.objects.create_user("staff", password={PASSWORD!r}, is_staff=True)
User.objects.create_user("clerk", password={PASSWORD!r})
"""


@dataclasses.dataclass
class Site:
    """The running test site: its process, URLs and the API key to twitter with."""

    process: SiteProcess
    api_key: str

    @property
    def url(self) -> str:
        return self.process.base_url

    @property
    def rpc_url(self) -> str:
        return f"{self.url}/berrymq/rpc/"

    def twitter(self, identifier: str, *args: Any, **kwargs: Any) -> None:
        """Send one message to the site over its JSON-RPC endpoint, as principal "tester"."""
        send_to(self.rpc_url, identifier, args, kwargs, api_key=self.api_key)

    def connect_queue(self, identifier: str, ttl: float = 300.0) -> str:
        """Open a queue connection for identifier as "tester"; return its token."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "connect_via_queue"}
        body["params"] = {"identifier": identifier, "ttl": ttl}
        headers = {"Authorization": f"Bearer {self.api_key}"}
        answer = httpx.post(self.rpc_url, json=body, headers=headers, timeout=30.0).json()
        return str(answer["result"])

    @contextlib.contextmanager
    def login(self, username: str = "staff") -> Iterator[httpx.Client]:
        """Yield an httpx client logged in through the site's login form."""
        with httpx.Client(base_url=self.url, timeout=30.0) as client:
            page = client.get("/accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert token is not None, page.text
            answer = client.post(
                "/accounts/login/",
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "username": username,
                    "password": PASSWORD,
                    "next": "/admin/",
                },
            )
            assert answer.status_code == 302, answer.text
            yield client


@contextlib.contextmanager
def running_site(
    *,
    memory: bool = False,
    outbox: dict[str, Any] | None = None,
    peer_url: str | None = None,
) -> Iterator[Site]:
    """Run the dashboard's test site (see the module docstring).

    memory: the in-memory backend; outbox: BERRYMQ["OUTBOX"] (off when None);
    peer_url: the endpoint of peer "faraway" (one nothing answers when None).
    """
    redis_url = require_redis()
    prefix = f"berrymq-test-{uuid.uuid4().hex[:12]}"
    workdir = Path(tempfile.mkdtemp(prefix="berrymq-dashboard-"))
    process = SiteProcess(
        "dashboard",
        app="tests.dashboard.site_wsgi:application",
        settings="tests.dashboard.site_settings",
        ready="/admin/login/",
        env={
            "BERRYMQ_SITE_DB": str(workdir / "site.sqlite3"),
            "BERRYMQ_SITE_REDIS_URL": redis_url,
            "BERRYMQ_SITE_PREFIX": prefix,
            "BERRYMQ_SITE_KEY": API_KEY,
            "BERRYMQ_SITE_PEER_URL": peer_url or f"http://127.0.0.1:{free_port()}/berrymq/rpc/",
            "BERRYMQ_SITE_MEMORY": "1" if memory else "",
            "BERRYMQ_SITE_OUTBOX": json.dumps(outbox) if outbox else "",
        },
        # Threads: the live tail's long poll holds one while the pages use others.
        gunicorn={"worker_class": "gthread", "threads": 8},
        workdir=workdir,
    )
    environ = process.environ()
    for command in (["migrate", "--noinput", "-v0"], ["shell", "-v0", "-c", CREATE_USERS]):
        subprocess.run(
            [sys.executable, "-m", "django", *command],
            cwd=Path(__file__).resolve().parents[2],
            env=environ,
            check=True,
            timeout=120,
        )
    try:
        with process:
            yield Site(process, API_KEY)
    finally:
        delete_prefix(redis_url, prefix)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The test site on the Redis backend, for the module."""
    with running_site() as running:
        yield running


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium under Selenium, with a fresh profile; skipped when not installed."""
    found = _chromium()
    if found is None:
        reason = "chromium and chromedriver are not installed (apt-get install chromium " \
            "chromium-driver)"  # fmt: skip
        if os.environ.get("BERRYMQ_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; BERRYMQ_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="berrymq-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: BERRYMQ_SCREENSHOTS, or a tmp dir."""
    if SCREENSHOTS:
        path = Path(SCREENSHOTS)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


__all__ = ["PASSWORD", "Site", "running_site"]
