"""``manage.py berrymq_outbox [status|dead|retry|purge] [--destination D]``: the outbox's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from berrymq_django.conf import berrymq_settings
from berrymq_django.outbox import store
from berrymq_django.outbox.options import outbox_options


class Command(BaseCommand):
    """Show what the outbox holds per destination; list, retry or purge its dead letters."""

    help = (
        "'status' (the default) shows, per destination, the messages pending, how long the "
        "oldest has waited and the dead letters. 'dead' lists dead letters (messages a "
        "destination refused for good) with their error, 'retry' makes them pending again, "
        "'purge' deletes them (and, with --pending, what is pending too; asks unless --yes). "
        "--destination limits any of them to one destination (backend, peer:<name>)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add the action, --destination, --limit, --pending and --yes."""
        parser.add_argument(
            "action", nargs="?", default="status", choices=["status", "dead", "retry", "purge"]
        )
        parser.add_argument("--destination", help="Only this destination (backend, peer:<name>).")
        parser.add_argument("--limit", type=int, default=20, help="Dead letters listed (20).")
        parser.add_argument("--pending", action="store_true", help="Purge pending rows too.")
        parser.add_argument("--yes", action="store_true", help="Purge without asking.")

    def handle(self, *args: Any, action: str, destination: str | None, **options: Any) -> None:
        """Run the action on the outbox's database; CommandError when it cannot."""
        try:
            alias = outbox_options(berrymq_settings.OUTBOX).database
        except Exception as exc:
            raise CommandError(str(exc)) from None
        if options["limit"] < 1:
            raise CommandError(f"--limit must be a positive int, not {options['limit']!r}.")
        try:
            if action == "status":
                self.status(alias, destination)
            elif action == "dead":
                self.dead(alias, destination, options["limit"])
            elif action == "retry":
                count = store.retry(alias, destination)
                self.stdout.write(f"{count} dead letter(s) pending again.")
            else:
                self.purge(alias, destination, options["pending"], options["yes"])
        except DatabaseError as exc:
            raise CommandError(
                f"The outbox's database ({alias!r}) failed: {exc} (has "
                "'manage.py migrate berrymq_django' run there?)"
            ) from None

    def status(self, alias: str, destination: str | None) -> None:
        """Print pending, oldest pending age and dead letters per destination."""
        figures = store.stats(alias)
        if destination is not None:
            figures = {k: v for k, v in figures.items() if k == destination}
        if not figures:
            self.stdout.write("The outbox is empty: every message was delivered.")
            return
        for name, entry in figures.items():
            age = entry["oldest_pending_seconds"]
            oldest = "" if age is None else f", oldest waiting {age:.1f} s"
            self.stdout.write(
                f"{name}: {entry['pending']} pending{oldest}, {entry['dead']} dead letter(s)"
            )

    def dead(self, alias: str, destination: str | None, limit: int) -> None:
        """Print the oldest dead letters with their error."""
        letters = store.dead_letters(alias, destination, limit)
        if not letters:
            self.stdout.write("No dead letters.")
            return
        for letter in letters:
            when = datetime.fromtimestamp(letter["created"], UTC).isoformat(timespec="seconds")
            self.stdout.write(
                f"#{letter['id']} {letter['identifier']} -> {letter['destination']} "
                f"(uid {letter['uid']}, {when}): {letter['error']}"
            )

    def purge(self, alias: str, destination: str | None, pending: bool, yes: bool) -> None:
        """Delete dead letters (and pending rows with --pending), after asking unless --yes."""
        what = "dead letters and pending messages" if pending else "dead letters"
        where = f" of {destination}" if destination else ""
        if not yes:
            try:
                answer = input(f"Delete the outbox's {what}{where}? [y/N] ")
            except EOFError:
                raise CommandError(
                    "purge deletes for good and asks first; run it with --yes to confirm."
                ) from None
            if answer.strip().lower() not in ("y", "yes"):
                self.stdout.write("Nothing deleted.")
                return
        self.stdout.write(f"{store.purge(alias, destination, pending=pending)} row(s) deleted.")
