"""The dashboard in a real Chromium: log in, use every page, watch the bus change.

The tests run in order against one site: what the first ones twitter (a
failing follower, a dead letter, a message for the unreachable peer) is what
the last one photographs, page by page, into the ``screenshots`` directory
(docs/img/ holds a set made this way: BERRYMQ_SCREENSHOTS=docs/img).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import eventually

from .conftest import PASSWORD, Site

DASHBOARD = "/berrymq/dashboard/"
PAGES = {
    "overview": "",
    "followers": "followers/",
    "queues": "queues/",
    "peers": "peers/",
    "dead": "dead/",
    "network": "network/",
    "tail": "tail/",
}


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def one(driver: Any, selector: str, timeout: float = 20.0) -> Any:
    """Return the first element selector finds, waiting for it: a click that navigates
    returns before the next page's elements exist."""
    found = eventually(
        lambda: by_css(driver, selector), until=bool, timeout=timeout, what=f"an element {selector}"
    )
    return found[0]


def text_of(driver: Any, selector: str) -> str:
    found = by_css(driver, selector)
    return "\n".join(element.text for element in found)


def log_in(driver: Any, site: Site, username: str = "staff", *, start: str = "") -> None:
    """Log out, then log in as username through the login form (then open start)."""
    driver.get(f"{site.url}/accounts/login/")
    driver.delete_all_cookies()
    driver.get(f"{site.url}/accounts/login/")
    one(driver, "input[name=username]").send_keys(username)
    one(driver, "input[name=password]").send_keys(PASSWORD)
    one(driver, "input[type=submit]").click()
    eventually(lambda: "/accounts/login/" not in driver.current_url, timeout=20)
    if start:
        driver.get(f"{site.url}{start}")


def test_anonymous_visitors_get_the_admin_login_and_come_back(browser: Any, site: Site) -> None:
    browser.get(f"{site.url}/admin/login/")
    browser.delete_all_cookies()
    browser.get(f"{site.url}{DASHBOARD}peers/")
    assert browser.current_url == f"{site.url}/admin/login/?next={DASHBOARD}peers/"
    one(browser, "input[name=username]").send_keys("staff")
    one(browser, "input[name=password]").send_keys(PASSWORD)
    one(browser, "input[type=submit]").click()
    eventually(lambda: browser.current_url, until=lambda url: url.endswith("/peers/"), timeout=20)
    eventually(lambda: text_of(browser, "h1"), until=lambda text: text == "Peers", timeout=20)


def test_users_who_are_not_staff_get_403(browser: Any, site: Site) -> None:
    log_in(browser, site, "clerk", start=DASHBOARD)
    assert "403 Forbidden" in browser.page_source
    assert not by_css(browser, ".berrymq-nav")


def test_the_admin_index_links_the_dashboard(browser: Any, site: Site) -> None:
    log_in(browser, site, start="/admin/")
    one(browser, "#berrymq-module a").click()
    eventually(lambda: text_of(browser, "h1"), until=lambda text: text == "Overview", timeout=20)


def _follow_tail(browser: Any, site: Site, pattern: str) -> None:
    browser.get(f"{site.url}{DASHBOARD}tail/?pattern={pattern}")
    eventually(lambda: text_of(browser, "#tail-status").startswith("Following"), timeout=20)


def test_a_message_twittered_shows_in_the_live_tail_as_text_within_2_s(
    browser: Any, site: Site
) -> None:
    log_in(browser, site)
    _follow_tail(browser, site, "order:*")
    markup = "<script>document.title='pwned'</script><b>bold</b>"
    site.twitter("order:created", markup, 42, note="<i>x</i>")
    sent = time.monotonic()
    eventually(lambda: len(by_css(browser, "#tail-rows tr")) == 1, timeout=2.0, interval=0.05)
    seen = time.monotonic() - sent
    row = text_of(browser, "#tail-rows tr")
    assert "order:created" in row and markup in row and "<i>x</i>" in row, row
    assert not by_css(browser, "#tail-rows script, #tail-rows b, #tail-rows i")
    assert browser.title != "pwned"
    assert seen < 2.0
    # The tail follows through the JavaScript client, loaded as a module from static files.
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((entry) => entry.name)"
    )
    assert f"{site.url}/static/berrymq/berrymq.js" in loaded, loaded


def test_the_tail_pauses_resumes_and_clears(browser: Any, site: Site) -> None:
    log_in(browser, site)
    _follow_tail(browser, site, "order:*")
    one(browser, "#tail-pause").click()
    site.twitter("order:paid", "held back")
    site.twitter("audit:note", "not followed")
    eventually(lambda: text_of(browser, "#tail-status"), until=lambda s: s == "Paused: 1 held")
    assert not by_css(browser, "#tail-rows tr")
    one(browser, "#tail-pause").click()
    eventually(lambda: "held back" in text_of(browser, "#tail-rows"), timeout=10)
    assert "not followed" not in text_of(browser, "#tail-rows")
    one(browser, "#tail-clear").click()
    assert not by_css(browser, "#tail-rows tr")


def test_a_failing_followers_error_count_rises_and_its_traceback_shows(
    browser: Any, site: Site
) -> None:
    log_in(browser, site)
    page = f"{site.url}{DASHBOARD}followers/?pattern=boom"

    def errors() -> int:
        browser.get(page)
        cells = by_css(browser, "tr[data-follower$='.explode'] td.errors")
        return int(cells[0].text) if cells and cells[0].text.isdigit() else 0

    before = errors()
    site.twitter("boom:now", "<script>alert('boom')</script>")
    site.twitter("boom:again", "second")
    eventually(errors, until=lambda count: count == before + 2, timeout=20)
    one(browser, "tr[data-follower$='.explode'] details summary").click()
    trace = text_of(browser, "tr[data-follower$='.explode'] pre.traceback")
    assert "raise ValueError" in trace and "boom with second" in trace
    assert "<script>" not in browser.page_source.split('id="followers"')[1]


def test_an_unreachable_peers_link_shows_retrying(browser: Any, site: Site) -> None:
    log_in(browser, site)
    site.twitter("order:shipped", 7)  # forwarded to the peer, which nobody answers

    def state() -> str:
        browser.get(f"{site.url}{DASHBOARD}peers/")
        return text_of(browser, "tr[data-peer=faraway] td.state")

    eventually(state, until=lambda text: text == "retrying", timeout=30)
    assert "ConnectError" in text_of(browser, "tr[data-peer=faraway]")
    browser.get(f"{site.url}{DASHBOARD}")
    assert "Peer link faraway is retrying" in text_of(browser, "#attention")


def _dead_count(browser: Any, site: Site) -> str:
    browser.get(f"{site.url}{DASHBOARD}dead/")
    return text_of(browser, "tr[data-group=chores] td.num")


def test_a_dead_letter_is_purged_after_confirming_and_another_retried(
    browser: Any, site: Site
) -> None:
    log_in(browser, site)
    site.twitter("chores:do", "first")
    eventually(lambda: _dead_count(browser, site), until=lambda n: n == "1", timeout=30)
    one(browser, "tr[data-group=chores] button.purge").click()
    eventually(lambda: "Delete these dead letters for good?" in browser.page_source, timeout=20)
    one(browser, "#confirm-purge").click()
    eventually(lambda: text_of(browser, ".messagelist"), until=lambda t: "Purged 1" in t)
    assert "Purged 1 dead letter(s)." in text_of(browser, ".messagelist")
    assert by_css(browser, "#no-dead-letters")

    site.twitter("chores:do", "second")
    eventually(lambda: _dead_count(browser, site), until=lambda n: n == "1", timeout=30)
    site.twitter("chores:fixed")  # the follower works from now on
    one(browser, "tr[data-group=chores] button.retry").click()
    retried = eventually(lambda: text_of(browser, ".messagelist"), until=lambda t: "retried" in t)
    assert "Group chores: 1 dead letter(s) retried, 0 left." in retried

    # Retried and done: the follower ran it, and it is not back among the dead letters.
    def delivered() -> str:
        browser.get(f"{site.url}{DASHBOARD}followers/?pattern=chores:do")
        return text_of(browser, "tr[data-follower$='.do_chore'] td.delivered")

    eventually(delivered, until=lambda n: n == "1", timeout=30)
    assert _dead_count(browser, site) == ""
    assert by_css(browser, "#no-dead-letters")


def _dead_groups(browser: Any, site: Site) -> str:
    browser.get(f"{site.url}{DASHBOARD}dead/")
    return text_of(browser, "#dead-groups")


def _save(browser: Any, path: Path, width: int) -> None:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, max(600, min(int(height) + 40, 4000)))
    browser.save_screenshot(str(path))


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_every_page_renders_and_is_photographed(
    browser: Any, site: Site, screenshots: Path, width: int
) -> None:
    log_in(browser, site)
    browser.set_window_size(width, 900)
    if width > 600:  # something on the queues page: a connection holding two messages
        site.connect_queue("order:*")
        site.twitter("order:created", 1041)
        site.twitter("order:paid", 1041, amount="19.90")
        site.twitter("invoice:send", 1041)  # a dead letter of group billing
        eventually(lambda: _dead_groups(browser, site), until=lambda t: "billing" in t, timeout=30)
    for name, path in PAGES.items():
        browser.get(f"{site.url}{DASHBOARD}{path}")
        if name == "overview" and width > 600:
            attention = text_of(browser, "#attention")
            assert "Group billing has 1 dead letter(s)" in attention
            assert "Peer link faraway is retrying" in attention
            assert "send_invoice" in text_of(browser, "#failing")
            assert by_css(browser, "svg.chart rect.series-sent")
        if name == "tail":
            eventually(lambda: text_of(browser, "#tail-status").startswith("Following"))
            site.twitter("order:created", {"id": 1042, "total": "19.90"}, channel="<web>")
            site.twitter("stock:low", "SKU-7", left=2)
            site.twitter("order:paid", 1042, amount="19.90", method="card")
            eventually(lambda: len(by_css(browser, "#tail-rows tr")) == 3, timeout=10)
        assert one(browser, ".berrymq-nav a.current").text == one(browser, "h1").text
        # Nothing wider than the screen, but the tables that scroll in their own box.
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 1, (name, width, overflow)
        suffix = "" if width > 600 else "-phone"
        _save(browser, screenshots / f"dashboard-{name}{suffix}.png", width)
        browser.set_window_size(width, 900)
    assert (screenshots / f"dashboard-overview{'' if width > 600 else '-phone'}.png").exists()
