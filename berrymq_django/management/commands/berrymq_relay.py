"""``manage.py berrymq_relay``: send the outbox's messages from a process of its own."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from berrymq_django.core.lifecycle import lifecycle
from berrymq_django.outbox.setup import configure_outbox, relay


class Command(BaseCommand):
    """Run the outbox relay (and the peer links it sends through) until stopped."""

    help = (
        "Send the messages of the outbox (BERRYMQ['OUTBOX']) to the backend and the peers, "
        "until SIGTERM or Ctrl-C. For deployments that set OUTBOX['RELAY'] = False, so the "
        "web workers only write; several may run (on PostgreSQL they share the work)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --once."""
        parser.add_argument(
            "--once", action="store_true", help="Send what is pending now, then exit."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Start the relay, wait for a stop signal, stop within the lifecycle's deadline."""
        outbox = configure_outbox(run_relay=True)
        if not outbox.enabled:
            raise CommandError("The outbox is off: set BERRYMQ['OUTBOX']['ENABLED'] = True.")
        service = relay()
        assert service is not None
        if options["once"]:
            try:
                while service.run_once():
                    pass
            except DatabaseError as exc:
                raise CommandError(
                    f"The outbox's database ({outbox.database!r}) failed: {exc} (has "
                    "'manage.py migrate berrymq_django' run there?)"
                ) from None
            self.stdout.write(f"Sent {service.sent} message(s); {service.dead} dead letter(s).")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        lifecycle.start()
        self.stdout.write(f"Relaying the outbox of database {outbox.database!r} (Ctrl-C stops).")
        stop.wait()
        lifecycle.stop()
        self.stdout.write(f"Stopped: sent {service.sent} message(s).")
