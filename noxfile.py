"""The Django and Python matrix: ``nox`` runs every session, ``nox -s "tests(dj6)"`` one.

``make test`` runs the suite once on the default Python and Django; these
sessions run it on each supported pair. Django 6 needs Python 3.12 or newer.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True

MATRIX = [
    ("3.11", "Django>=4.2,<5.0"),
    ("3.11", "Django>=5.2,<6.0"),
    ("3.12", "Django>=6.0,<7.0"),
]


@nox.session
@nox.parametrize(("python", "django"), MATRIX, ids=["dj42", "dj52", "dj6"])
def tests(session: nox.Session, django: str) -> None:
    """Run the whole suite against one Django release."""
    session.install("-e", ".[dev,redis]", django)
    session.run("python", "-m", "pytest", *session.posargs, env={"BERRYMQ_REQUIRE_REDIS": "1"})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Run what ``make lint`` runs: ruff, the import contracts, mypy --strict."""
    session.install("-e", ".[dev,redis]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports", "--no-logo")
    session.run("mypy")
