"""The outbox on the Dead letters page, on a real site: a refused message, Retry, Purge.

The dashboard's site runs the in-memory backend (which keeps no dead letters
of its own) with the durable outbox on its SQLite file; its peer "faraway" is
a real site B that refuses identifiers longer than 24 characters, so the
relay turns such a message into an outbox dead letter.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peering.sites import Site as PeerSite
from tests.support import eventually

from .conftest import Site, running_site
from .test_browser import by_css, log_in, one, text_of

DASHBOARD = "/berrymq/dashboard/"
LONG = "order:" + "x" * 40  # B refuses it: longer than its MAX_IDENTIFIER_LENGTH
PEER = {"BERRYMQ_SITE_EXTRA": json.dumps({"MAX_IDENTIFIER_LENGTH": 24})}


@pytest.fixture(scope="module")
def peer_b() -> Iterator[PeerSite]:
    """Site B, which knows the dashboard site's peer key and refuses long identifiers."""
    with PeerSite("site-b", keys={"dashboard-site": "faraway-key-0123456789"}, env=PEER) as b:
        yield b


@pytest.fixture(scope="module")
def outbox_site(peer_b: PeerSite) -> Iterator[Site]:
    outbox = {"ENABLED": True, "POLL_SECONDS": 0.05}
    with running_site(memory=True, outbox=outbox, peer_url=peer_b.rpc_url) as running:
        yield running


def _rows(site: Site) -> list[tuple[str, int]]:
    """(identifier, state) of every outbox row, read from the site's SQLite file."""
    database = Path(site.process.environ()["BERRYMQ_SITE_DB"])
    with sqlite3.connect(database, timeout=30) as connection:
        query = "SELECT identifier, state FROM berrymq_outbox ORDER BY id"
        return [(str(name), int(state)) for name, state in connection.execute(query)]


def _csrf(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def _destination_row(page: str) -> str:
    found = re.search(r'<tr data-destination="peer:faraway">.*?</tr>', page, re.S)
    return found.group(0) if found else ""


def test_the_dead_letters_page_shows_with_the_outbox_on_a_backend_keeping_none(
    outbox_site: Site,
) -> None:
    with outbox_site.login() as staff:
        overview = staff.get(DASHBOARD).text
        page = staff.get(f"{DASHBOARD}dead/").text
    assert f'href="{DASHBOARD}dead/"' in overview
    assert "keeps no dead letters" in page
    assert '<section class="module" id="outbox">' in page


def test_a_refused_message_shows_then_retry_makes_it_pending_and_purge_removes_it(
    outbox_site: Site, peer_b: PeerSite
) -> None:
    outbox_site.twitter("order:fine", 1)
    outbox_site.twitter(LONG, "<b>bold</b>")
    peer_b.wait_for(1, timeout=30)
    eventually(lambda: _rows(outbox_site), until=lambda rows: rows == [(LONG, 2)], timeout=30)
    with outbox_site.login() as staff:
        page = staff.get(f"{DASHBOARD}dead/").text
        letters = page[page.index('id="outbox-letters"') :]
        assert LONG in letters and "peer:faraway" in letters
        assert "identifier" in html.unescape(letters).lower()  # the peer's error names it
        assert re.search(r'<td class="num dead">1</td>', _destination_row(page))
        overview = staff.get(DASHBOARD).text
        assert "Outbox to peer:faraway: 1 dead message(s)" in overview

        # With B down, a retried letter stays pending (the relay cannot reach B).
        peer_b.stop()
        try:
            answer = staff.post(
                f"{DASHBOARD}dead/outbox/retry/",
                data={
                    "csrfmiddlewaretoken": _csrf(staff, f"{DASHBOARD}dead/"),
                    "destination": "peer:faraway",
                },
                follow_redirects=True,
            )
            assert "Outbox: 1 dead letter(s) to peer:faraway pending again." in answer.text
            assert _rows(outbox_site) == [(LONG, 0)]
            row = _destination_row(answer.text)
            assert '<td class="num pending">1</td>' in row and '<td class="num dead">0</td>' in row
            assert 'id="outbox-letters"' not in answer.text
        finally:
            peer_b.start()

        # B back (still refusing it): a dead letter again, then purged after a confirmation.
        eventually(lambda: _rows(outbox_site), until=lambda rows: rows == [(LONG, 2)], timeout=30)
        token = _csrf(staff, f"{DASHBOARD}dead/")
        confirm = staff.post(
            f"{DASHBOARD}dead/outbox/purge/",
            data={"csrfmiddlewaretoken": token, "destination": "peer:faraway"},
        )
        assert confirm.status_code == 200
        assert "to peer:faraway: 1 dead letter" in confirm.text
        assert _rows(outbox_site) == [(LONG, 2)]  # nothing deleted before the confirmation
        answer = staff.post(
            f"{DASHBOARD}dead/outbox/purge/",
            data={"csrfmiddlewaretoken": token, "destination": "peer:faraway", "confirmed": "yes"},
            follow_redirects=True,
        )
        assert "Purged 1 outbox dead letter(s)." in answer.text
        assert _rows(outbox_site) == []
        assert 'id="outbox-empty"' in answer.text


def test_outbox_actions_need_staff_post_and_csrf_and_name_a_bad_destination(
    outbox_site: Site,
) -> None:
    for action in ("retry", "purge"):
        url = f"{DASHBOARD}dead/outbox/{action}/"
        with outbox_site.login("clerk") as clerk:
            assert clerk.post(url).status_code == 403
        with outbox_site.login() as staff:
            assert staff.get(url).status_code == 405
            assert staff.post(url, data={"destination": "peer:faraway"}).status_code == 403
            answer = staff.post(
                url,
                data={
                    "csrfmiddlewaretoken": _csrf(staff, f"{DASHBOARD}dead/"),
                    "destination": "bad\x07<i>",
                },
                follow_redirects=True,
            )
        assert answer.status_code == 200
        assert "is not a destination name" in answer.text and "&lt;i&gt;" in answer.text


def test_in_a_browser_an_outbox_dead_letter_is_purged_after_the_confirmation(
    browser: Any, outbox_site: Site, screenshots: Path
) -> None:
    outbox_site.twitter(LONG, "<script>alert('x')</script>")
    eventually(lambda: _rows(outbox_site), until=lambda rows: rows == [(LONG, 2)], timeout=30)
    log_in(browser, outbox_site, start=f"{DASHBOARD}dead/")
    assert LONG in text_of(browser, "#outbox-letters")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(600, min(int(height) + 40, 4000)))
    browser.save_screenshot(str(screenshots / "dashboard-dead-outbox.png"))
    browser.set_window_size(1280, 900)
    one(browser, "#outbox-destinations button.purge").click()
    eventually(lambda: by_css(browser, "#confirm-purge"), timeout=20)
    assert "to peer:faraway: 1 dead letter" in text_of(browser, ".confirm")
    one(browser, "#confirm-purge").click()
    eventually(lambda: text_of(browser, ".messagelist"), until=lambda t: "Purged 1" in t)
    assert by_css(browser, "#outbox-empty") and _rows(outbox_site) == []
