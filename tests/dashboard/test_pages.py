"""The dashboard over plain HTTP: who gets in, every page renders, actions are CSRF POSTs,
markup is escaped, and secrets are cut short."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support import eventually

from .conftest import Site

PAGES = ["", "followers/", "queues/", "peers/", "dead/", "network/", "tail/"]
DASHBOARD = "/berrymq/dashboard/"


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitors_are_sent_to_the_admin_login(site: Site, page: str) -> None:
    answer = httpx.get(f"{site.url}{DASHBOARD}{page}")
    assert answer.status_code == 302
    assert answer.headers["location"] == f"/admin/login/?next={DASHBOARD}{page}"


@pytest.mark.parametrize("page", PAGES)
def test_logged_in_users_who_are_not_staff_get_403(site: Site, page: str) -> None:
    with site.login("clerk") as clerk:
        assert clerk.get(f"{DASHBOARD}{page}").status_code == 403


def test_actions_refuse_anonymous_and_non_staff_posts(site: Site) -> None:
    for action in ("queues/close/", "dead/retry/", "dead/purge/"):
        answer = httpx.post(f"{site.url}{DASHBOARD}{action}", data={"id": "x"})
        assert answer.status_code in (302, 403), action  # login redirect, or CSRF refusal
        with site.login("clerk") as clerk:
            assert clerk.post(f"{DASHBOARD}{action}").status_code == 403


@pytest.mark.parametrize("page", PAGES)
def test_staff_see_every_page_in_the_admin_look(site: Site, page: str) -> None:
    with site.login() as staff:
        answer = staff.get(f"{DASHBOARD}{page}")
    assert answer.status_code == 200, answer.text
    assert 'id="site-name"' in answer.text  # the admin's header
    assert "berrymq/dashboard/dashboard.css" in answer.text


def test_the_admin_index_links_the_dashboard(site: Site) -> None:
    with site.login() as staff:
        index = staff.get("/admin/").text
    assert f'href="{DASHBOARD}"' in index
    assert "berryMQ" in index


@pytest.mark.parametrize("action", ["queues/close/", "dead/retry/", "dead/purge/"])
def test_actions_need_post_and_the_csrf_token(site: Site, action: str) -> None:
    with site.login() as staff:
        assert staff.get(f"{DASHBOARD}{action}").status_code == 405
        assert staff.post(f"{DASHBOARD}{action}", data={"group": "chores"}).status_code == 403


def _csrf(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def test_closing_an_unknown_connection_says_so(site: Site) -> None:
    with site.login() as staff:
        token = _csrf(staff, f"{DASHBOARD}tail/")
        answer = staff.post(
            f"{DASHBOARD}queues/close/",
            data={"csrfmiddlewaretoken": token, "id": "<b>nope</b>"},
            follow_redirects=True,
        )
    assert answer.status_code == 200
    assert "No connection &#x27;&lt;b&gt;nope&lt;/b&gt;&#x27;" in answer.text


def test_a_connection_shows_its_token_cut_short_and_closes_on_post(site: Site) -> None:
    secret = site.connect_queue("audit:kept")
    with site.login() as staff:
        page = staff.get(f"{DASHBOARD}queues/").text
        assert secret[:6] in page
        assert secret not in page and secret[:12] not in page
        assert site.api_key not in page
        row = re.search(r'data-connection="([0-9a-f]{16})"', page)
        assert row is not None
        answer = staff.post(
            f"{DASHBOARD}queues/close/",
            data={"csrfmiddlewaretoken": _csrf(staff, f"{DASHBOARD}queues/"), "id": row.group(1)},
            follow_redirects=True,
        )
        assert "Closed the queue connection" in answer.text
        assert row.group(1) not in answer.text


def test_a_failing_followers_error_shows_escaped_with_its_traceback(site: Site) -> None:
    site.twitter("boom:escape", "<script>alert('x')</script>")
    with site.login() as staff:

        def failing_row() -> str:
            page = staff.get(f"{DASHBOARD}followers/?pattern=boom:escape").text
            found = re.search(r'<tr class="follower failing".*?</tr>', page, re.S)
            return found.group(0) if found else ""

        row = eventually(failing_row, timeout=20)
    assert "tests.dashboard.siteapp.receivers.explode" in row
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in row
    assert "<script>" not in row
    assert "Traceback" in row and "raise ValueError" in row


def test_the_followers_filter_finds_patterns_by_identifier_or_text(site: Site) -> None:
    with site.login() as staff:
        by_identifier = staff.get(f"{DASHBOARD}followers/?pattern=order:created").text
        by_text = staff.get(f"{DASHBOARD}followers/?pattern=chore").text
        bad = staff.get(f"{DASHBOARD}followers/?pattern=%3C%3E%3A%3A").text
    assert "record_order" in by_identifier and "explode" not in by_identifier
    assert "do_chore" in by_text and "fix_chores" in by_text and "record_order" not in by_text
    assert "No follower matches" in bad


def test_the_network_is_an_svg_of_patterns_and_followers(site: Site) -> None:
    with site.login() as staff:
        page = staff.get(f"{DASHBOARD}network/").text
    start = page.index('<svg id="network"')
    svg = page[start : page.index("</svg>", start)]
    assert "boom:*" in svg and "tests.dashboard.siteapp.receivers.explode" in svg
    assert "Queue(&#x27;audit:*&#x27;)" in svg
    assert svg.count('class="edge"') >= 5


@pytest.mark.parametrize("action", ["retry", "purge"])
def test_a_malformed_group_is_named_in_a_message(site: Site, action: str) -> None:
    with site.login() as staff:
        answer = staff.post(
            f"{DASHBOARD}dead/{action}/",
            data={"csrfmiddlewaretoken": _csrf(staff, f"{DASHBOARD}dead/"), "group": "a b<i>"},
            follow_redirects=True,
        )
    assert answer.status_code == 200
    assert {"retry": "Nothing retried: ", "purge": "Nothing purged: "}[
        action
    ] in answer.text and "a b&lt;i&gt;" in answer.text


def test_the_overview_shows_the_lag_of_messages_from_other_processes(site: Site) -> None:
    from berrymq_django.backends.redis import RedisBackend
    from berrymq_django.core.dispatcher import Dispatcher

    env = site.process.extra_env
    backend = RedisBackend(URL=env["BERRYMQ_SITE_REDIS_URL"], PREFIX=env["BERRYMQ_SITE_PREFIX"])
    try:
        assert backend.ready(10.0), backend.status()
        Dispatcher(backend=backend).twitter("order:lagged", 1)
        with site.login() as staff:
            page = eventually(
                lambda: staff.get(DASHBOARD).text,
                until=lambda text: 'id="backend-lag"' in text,
                timeout=30,
            )
    finally:
        backend.close()
    lag = re.search(r'id="backend-lag">([0-9.]+) s<', page)
    assert lag is not None, page
    assert 0.0 <= float(lag.group(1)) < 30.0
