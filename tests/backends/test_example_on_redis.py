"""The example shop under ``gunicorn -w 3`` on the Redis backend: every step once.

Restocking 10 adds 10 (not 30), each order is reserved and packed once (by
the follower groups "stock" and "packing") and shipped once (from the
shared packing queue), and the shop page says which worker did what. The
site runs the example project itself, on a SQLite file of its own.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support import SiteProcess, eventually


@pytest.fixture
def shop(redis_url: str, prefix: str, tmp_path: Path) -> Iterator[SiteProcess]:
    site = SiteProcess(
        "example-shop",
        app="example_project.wsgi:application",
        settings="example_project.settings",
        ready="/shop/",
        env={
            "EXAMPLE_REDIS_URL": redis_url,
            "EXAMPLE_REDIS_PREFIX": prefix,
            "EXAMPLE_DB": str(tmp_path / "shop.sqlite3"),
        },
        gunicorn={"workers": 3},
        workdir=tmp_path,
    )
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        env=site.environ(),
        check=True,
        timeout=120,
    )
    try:
        site.start()
        yield site
    finally:
        site.close(show_log=True)


def rows(site: SiteProcess, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(site.extra_env["EXAMPLE_DB"], timeout=20) as db:
        return db.execute(query, params).fetchall()


def post(site: SiteProcess, path: str, **data: Any) -> int:
    """POST a form the way a browser does (CSRF cookie and token); return the status."""
    token = site.http.cookies.get("csrftoken") or _token(site)
    response = site.http.post(path, data={**data, "csrfmiddlewaretoken": token})
    return response.status_code


def _token(site: SiteProcess) -> str:
    site.http.get("/shop/")
    return str(site.http.cookies["csrftoken"])


def settled(raw: redis.Redis, prefix: str) -> bool:
    """Whether every group stream of the site has handed out and had acknowledged everything."""
    for key in raw.scan_iter(match=f"{prefix}:g:*"):
        for info in raw.xinfo_groups(key):
            if info["pending"] or info.get("lag"):
                return False
    return True


def test_the_shop_on_three_workers_does_each_step_once(
    shop: SiteProcess, raw: redis.Redis, prefix: str
) -> None:
    served: set[str] = set()

    def three_workers_serve() -> set[str]:
        with ThreadPoolExecutor(6) as pool:
            pages = pool.map(lambda _: shop.http.get("/shop/").text, range(6))
            served.update(m for page in pages for m in re.findall(r"pid \d+", page))
        return served

    eventually(three_workers_serve, until=lambda pids: len(pids) >= 3, timeout=30)

    [(empty_pk, empty_stock)] = rows(
        shop, "SELECT id, stock FROM shop_product WHERE name = ?", "Strawberry jam"
    )
    assert post(shop, f"/shop/products/{empty_pk}/restock/", quantity=10) == 302
    eventually(
        lambda: rows(shop, "SELECT stock FROM shop_product WHERE id = ?", empty_pk),
        until=lambda r: r[0][0] >= empty_stock + 10,
    )
    eventually(lambda: settled(raw, prefix), timeout=15)
    assert rows(shop, "SELECT stock FROM shop_product WHERE id = ?", empty_pk) == [
        (empty_stock + 10,)
    ]

    [(jam_pk, jam_stock)] = rows(
        shop, "SELECT id, stock FROM shop_product WHERE name = ?", "Blueberry jam"
    )
    for _ in range(3):
        assert post(shop, "/shop/orders/", product=jam_pk, quantity=1) == 302
    orders = eventually(
        lambda: rows(shop, "SELECT id, status, reserved_by, packed_by FROM shop_order"),
        until=lambda found: len(found) == 3 and all(o[1] == "packed" for o in found),
        timeout=20,
    )
    eventually(lambda: settled(raw, prefix), timeout=15)
    assert rows(shop, "SELECT stock FROM shop_product WHERE id = ?", jam_pk) == [(jam_stock - 3,)]
    assert all(o[2].startswith("pid ") and o[3].startswith("pid ") for o in orders)
    print(f"\nreserved by / packed by: {[(o[2], o[3]) for o in orders]}")
    page = shop.http.get("/shop/").text
    for _, _, reserved_by, packed_by in orders:
        assert f"reserved by {reserved_by}" in page and f"packed by {packed_by}" in page

    # The packing queue is shared: whichever worker serves the page, each order ships once.
    for _ in range(4):
        assert post(shop, "/shop/packing/next/") == 302
    shipped = rows(shop, "SELECT status, shipped_by FROM shop_order")
    assert [status for status, _ in shipped] == ["shipped"] * 3
    assert all(by.startswith("pid ") for _, by in shipped)


def test_the_shop_on_three_workers_takes_concurrent_orders_without_dead_letters(
    shop: SiteProcess, raw: redis.Redis, prefix: str
) -> None:
    """Orders and restocks at once from several clients: SQLite waits for its lock.

    The workers' transactions read, then write; SQLite's deferred transactions
    fail such an upgrade at once ("database is locked") instead of waiting,
    which turned orders into dead letters of the group "stock".
    """
    [(pk, stock)] = rows(shop, "SELECT id, stock FROM shop_product WHERE name = ?", "Blueberry jam")

    def order_and_restock(_: int) -> tuple[int, int]:
        with httpx.Client(base_url=shop.base_url, timeout=60) as http:
            http.get("/shop/")
            form = {"csrfmiddlewaretoken": http.cookies["csrftoken"]}
            placed = http.post("/shop/orders/", data={**form, "product": pk, "quantity": 1})
            added = http.post(f"/shop/products/{pk}/restock/", data={**form, "quantity": 10})
            return placed.status_code, added.status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(order_and_restock, range(30))) == {(302, 302)}
    eventually(lambda: settled(raw, prefix), timeout=60)
    dead = {key: raw.xlen(key) for key in raw.scan_iter(match=f"{prefix}:dead:*")}
    statuses = dict(rows(shop, "SELECT status, COUNT(*) FROM shop_order GROUP BY status"))
    assert not dead and "pending" not in statuses, (statuses, dead)
    [(reserved,)] = rows(shop, "SELECT COUNT(*) FROM shop_order WHERE status = 'packed'")
    assert rows(shop, "SELECT stock FROM shop_product WHERE id = ?", pk) == [
        (stock + 300 - reserved,)
    ]


def test_the_shop_under_gunicorn_serves_the_dashboards_static_files(shop: SiteProcess) -> None:
    """The live tail is JavaScript: without its file the page under gunicorn shows nothing."""
    for path in ("/static/berrymq/dashboard/tail.js", "/static/admin/css/base.css"):
        assert shop.http.get(path).status_code == 200, path
