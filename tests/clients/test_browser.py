"""berrymq.js in a real browser: headless Chromium, driven by Selenium, on a staff session.

The app ships the client as a static file (berrymq_django/static/berrymq/
berrymq.js, a copy of clients/js/berrymq.js, the one source). The page
(siteapp/templates/clients/page.html) imports it and connects with no key:
the staff session's cookie and the CSRF token authenticate it. Skipped when
chromium or chromedriver is missing, unless BERRYMQ_REQUIRE_BROWSER=1 (CI):
then it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import SiteProcess, eventually
from tests.support.sites import ROOT

from .conftest import PASSWORD, STAFF

SOURCE = ROOT / "clients" / "js" / "berrymq.js"
STATIC_COPY = ROOT / "berrymq_django" / "static" / "berrymq" / "berrymq.js"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_static_copy_is_the_client_source() -> None:
    assert STATIC_COPY.read_bytes() == SOURCE.read_bytes(), (
        f"{STATIC_COPY.relative_to(ROOT)} differs from {SOURCE.relative_to(ROOT)}: "
        f"copy the source over it (cp {SOURCE.relative_to(ROOT)} {STATIC_COPY.relative_to(ROOT)})"
    )


def test_app_serves_the_client_as_a_static_file(clients_site: SiteProcess) -> None:
    response = clients_site.http.get("/static/berrymq/berrymq.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.content == SOURCE.read_bytes()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, driven by chromedriver."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        missing = "chromium" if chromium is None else "chromedriver"
        reason = f"{missing} is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("BERRYMQ_REQUIRE_BROWSER") == "1":
            pytest.fail(f"BERRYMQ_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(browser: Any, site: SiteProcess, then: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{site.base_url}/login/?next={then}")
    browser.find_element(By.ID, "id_username").send_keys(STAFF)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()


def test_page_on_a_staff_session_twitters_and_follows(
    clients_site: SiteProcess, browser: Any
) -> None:
    log_in(browser, clients_site, then="/page/")
    ready = eventually(
        lambda: browser.execute_script("return document.body && document.body.dataset.ready"),
        timeout=30,
        what="the page's follower of browser:* to be ready",
    )
    assert ready == "yes", ready

    # Twittered in Python, followed in the page.
    clients_site.http.post("/send/", json={"id": "browser:ping", "args": ["from python"]})
    received = eventually(
        lambda: browser.execute_script("return berrymqPage.received"),
        until=lambda got: len(got) >= 1,
        timeout=30,
        what="the page to receive browser:ping",
    )
    assert [(m["id"], m["args"]) for m in received] == [("browser:ping", [0, "from python"])]
    assert 'browser:ping [0,"from python"]' in browser.find_element("id", "received").text

    # Twittered in the page, received by the Python follower once.
    uid = browser.execute_script("return berrymqPage.twitter('page:hello', 'from the browser')")
    flushed = browser.execute_async_script("berrymqPage.flush().then(arguments[0])")
    assert flushed == "flushed"
    got = clients_site.http.get("/received/", params={"id": "page:hello"}).json()["received"]
    assert len(got) == 1, got
    (message,) = got
    assert message["uid"] == uid
    assert message["args"] == ["from the browser"]
    assert message["kwargs"] == {"from": "page"}
    assert message["origin"].startswith("js-")
    assert browser.execute_script("return berrymqPage.errors") == []
