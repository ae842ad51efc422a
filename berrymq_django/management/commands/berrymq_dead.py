"""``manage.py berrymq_dead list|retry|purge [--group G]``: the follower groups' dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from berrymq_django.backends.base import DeadLetter, DeadLetters
from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.exceptions import BerryMQError
from berrymq_django.core.subscription import check_group

NO_DEAD_LETTERS = (
    "There are no dead letters with the {backend}: it runs a grouped follower in this "
    "process like any other follower, once, and logs and counts a failure "
    "(default_dispatcher.error_count) without retrying it. Dead letters are kept by a "
    "backend that spreads follower groups over processes, such as the Redis backend."
)


class Command(BaseCommand):
    """List, re-deliver or delete the messages that follower groups gave up on."""

    help = (
        "Dead letters are grouped messages whose follower failed GROUP_MAX_ATTEMPTS times. "
        "'list' shows them with their last error, 'retry' hands them back to their group "
        "(each runs again, once), 'purge' deletes them (after asking, unless --yes). "
        "--group limits any of them to one follower group."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add the action, --group, --limit and --yes."""
        parser.add_argument("action", choices=["list", "retry", "purge"], help="What to do.")
        parser.add_argument("--group", help="Only this follower group's dead letters.")
        parser.add_argument(
            "--limit", type=int, default=20, help="Dead letters list shows per group (default 20)."
        )
        parser.add_argument("--yes", action="store_true", help="Purge without asking.")

    def handle(self, *args: Any, action: str, group: str | None, **options: Any) -> None:
        """Run the action on the backend's dead letters; CommandError when Redis fails."""
        try:
            check_group(group)
        except ValueError as exc:
            raise CommandError(f"--group: {exc}") from None
        if options["limit"] < 1:
            raise CommandError(f"--limit must be a positive int, not {options['limit']!r}.")
        backend = default_dispatcher.backend
        dead_letters: DeadLetters | None = getattr(backend, "dead_letters", None)
        if dead_letters is None:
            self.stdout.write(NO_DEAD_LETTERS.format(backend=type(backend).__name__))
            return
        try:
            if action == "list":
                self.list_letters(dead_letters, group, options["limit"], options["verbosity"])
            elif action == "retry":
                self.retry(dead_letters, group)
            else:
                self.purge(dead_letters, group, options["yes"])
        except BerryMQError as exc:
            raise CommandError(str(exc)) from None

    def list_letters(
        self, dead: DeadLetters, group: str | None, limit: int, verbosity: int
    ) -> None:
        """Print each group's count, then its oldest dead letters with their last error."""
        counts = {name: n for name, n in dead.counts(group).items() if n}
        if not counts:
            self.stdout.write(_nothing(group))
            return
        letters = dead.list(group, limit=limit)
        for name, count in counts.items():
            self.stdout.write(self.style.MIGRATE_HEADING(f"group {name}: {count} dead letter(s)"))
            for letter in (d for d in letters if d.group == name):
                self.write_letter(letter, verbosity)
            if count > limit:
                self.stdout.write(f"  ... and {count - limit} more (--limit)")

    def write_letter(self, letter: DeadLetter, verbosity: int) -> None:
        """Print one dead letter: id, message, attempts, when and where, the last error."""
        when = datetime.fromtimestamp(letter.failed_at, UTC).isoformat(timespec="seconds")
        message = letter.message
        shown = letter.identifier
        if message is not None:
            shown = f"{message.id} args={list(message.args)!r} kwargs={message.kwargs!r}"
        self.stdout.write(f"  {letter.id}  {shown}")
        uid = message.uid if message is not None else "?"
        self.stdout.write(
            f"    uid {uid}, {letter.attempts} attempts, last at {when} by {letter.worker}"
        )
        error = letter.error.rstrip()
        if verbosity < 2:
            error = error.splitlines()[-1] if error else "(no error recorded)"
        self.stdout.write("    " + error.replace("\n", "\n    "))

    def retry(self, dead: DeadLetters, group: str | None) -> None:
        """Hand the dead letters back to their groups; say how many went and how many stay."""
        report = dead.retry(group)
        if not any(sent or left for sent, left in report.values()):
            self.stdout.write(_nothing(group))
            return
        for name, (sent, left) in report.items():
            line = f"group {name}: {sent} handed back"
            if left:
                line += (
                    f", {left} left: no running process has a member of group {name!r} "
                    "following them"
                )
            self.stdout.write(line + ".")

    def purge(self, dead: DeadLetters, group: str | None, yes: bool) -> None:
        """Delete the dead letters, after asking unless yes."""
        counts = {name: n for name, n in dead.counts(group).items() if n}
        if not counts:
            self.stdout.write(_nothing(group))
            return
        listed = ", ".join(f"{name} ({n})" for name, n in counts.items())
        if not yes:
            try:
                answer = input(f"Delete for good the dead letters of {listed}? [y/N] ")
            except EOFError:
                raise CommandError(
                    "purge deletes for good and asks first; run it with --yes to confirm."
                ) from None
            if answer.strip().lower() not in ("y", "yes"):
                self.stdout.write("Nothing deleted.")
                return
        deleted = dead.purge(group)
        self.stdout.write(f"Deleted {sum(deleted.values())} dead letter(s): {listed}.")


def _nothing(group: str | None) -> str:
    return f"No dead letters in group {group!r}." if group else "No dead letters."
