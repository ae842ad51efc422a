"""Fixtures for the outbox tests: a fresh database per test, on SQLite and on PostgreSQL.

``database`` is parametrised: "sqlite" (a file in a temporary directory) and
"postgres" (a database of its own created on 127.0.0.1:5432 and dropped
afterwards). With no PostgreSQL there, the PostgreSQL cases are skipped with
the reason, unless BERRYMQ_REQUIRE_POSTGRES=1 (CI sets it): then they fail.
``outbox_site(name, database, ...)`` makes a peering Site whose database is
migrated and whose outbox is on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peering.sites import ROOT, Site

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


class Database:
    """One test database: its DATABASES entry, and a way to count the outbox's rows."""

    def __init__(self, vendor: str, settings: dict[str, Any]) -> None:
        self.vendor = vendor
        self.settings = settings

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run sql on the database (from the test process) and return its rows."""
        if self.vendor == "sqlite":
            import sqlite3

            with sqlite3.connect(self.settings["NAME"], timeout=30) as connection:
                return connection.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(
            host=PG["host"], port=PG["port"], user=PG["user"], dbname=self.settings["NAME"]
        ) as connection:
            return connection.execute(sql).fetchall()

    def pending(self) -> int:
        """Rows of the outbox still pending (state 0)."""
        return int(self.query("SELECT count(*) FROM berrymq_outbox WHERE state = 0")[0][0])


def _postgres_or_skip() -> Any:
    try:
        import psycopg

        return psycopg.connect(**PG, autocommit=True, connect_timeout=3)
    except Exception as exc:
        if os.environ.get("BERRYMQ_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}: {exc})")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database (not migrated yet), on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        yield Database(
            "sqlite",
            {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "site.sqlite3")},
        )
        return
    admin = _postgres_or_skip()
    name = f"berrymq_outbox_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": PG["user"],
        "HOST": PG["host"],
        "PORT": str(PG["port"]),
    }
    try:
        yield Database("postgres", settings)
    finally:
        with _postgres_or_skip() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


OutboxSite = Callable[..., Site]


@pytest.fixture
def outbox_site(request: pytest.FixtureRequest) -> Iterator[OutboxSite]:
    """Return outbox_site(name, database, outbox=..., **Site options) -> a Site, migrated.

    The site is not started; every one made is closed after the test (its log
    printed if the test failed).
    """
    made: list[Site] = []

    def make(
        name: str, database: Database, *, outbox: dict[str, Any] | None = None, **options: Any
    ) -> Site:
        env = dict(options.pop("env", {}))
        extra = json.loads(env.get("BERRYMQ_SITE_EXTRA", "{}"))
        extra["OUTBOX"] = {"ENABLED": True, "POLL_SECONDS": 0.05, **(outbox or {})}
        env["BERRYMQ_SITE_EXTRA"] = json.dumps(extra)
        env["BERRYMQ_SITE_DATABASES"] = json.dumps({"default": database.settings})
        site = Site(name, env=env, **options)
        made.append(site)
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=site.environ(),
            check=True,
            timeout=120,
        )
        return site

    yield make
    for site in made:
        site.close(show_log=True)  # pytest shows a test's output only when it failed
