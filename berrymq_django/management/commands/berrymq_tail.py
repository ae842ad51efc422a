"""``manage.py berrymq_tail [PATTERN]``: print the messages a running site sends, as they come."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from berrymq_django.core.identifier import parse_identifier
from berrymq_django.core.message import Message
from berrymq_django.peering import connect_via_queue
from berrymq_django.rpc.client import PeerError

from ._remote import add_site_options, api_key, peer_failure, site_url


class Command(BaseCommand):
    """Open a queue for PATTERN on the site (connect_via_queue) and print what it gets."""

    help = (
        "Print the messages matching PATTERN (default *:*) that a running site sends, as they "
        "arrive: time, identifier, args, kwargs and origin. Ctrl-C closes the queue on the site."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pattern", nargs="?", default="*:*", help="e.g. order:* (default *:*)")
        add_site_options(parser, "to tail")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")
        parser.add_argument("--count", type=int, help="Stop after N messages.")
        parser.add_argument(
            "--timeout",
            type=float,
            help="Stop after S seconds (with --count: an error if fewer than N came).",
        )
        parser.add_argument(
            "--ttl",
            type=float,
            default=60.0,
            help="Seconds the site keeps the queue if this command dies without closing it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pattern, count, timeout = options["pattern"], options["count"], options["timeout"]
        try:
            parse_identifier(pattern)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"Bad pattern {pattern!r}: {exc}") from None
        if count is not None and count < 1:
            raise CommandError(f"--count must be 1 or more, not {count}.")
        url = site_url(options["url"])
        try:
            queue = connect_via_queue(url, pattern, options["ttl"], api_key(options["api_key"]))
        except PeerError as exc:
            raise peer_failure(exc, url) from None
        self.stderr.write(f"Tailing {pattern} on {url} (Ctrl-C to stop)")
        render = self.render_json if options["json"] else self.render
        got = 0
        try:
            for message in queue.messages(timeout):
                self.stdout.write(render(message))
                got += 1
                if got == count:
                    return
        except PeerError as exc:
            raise peer_failure(exc, url) from None
        except KeyboardInterrupt:
            self.stderr.write("Stopped; the queue on the site is closed.")
            return
        finally:
            queue.close()
        if count is not None:
            raise CommandError(f"Timed out after {timeout:g} s with {got} of {count} message(s).")

    def render(self, message: Message) -> str:
        """One line: time, identifier, args, kwargs, origin; coloured on a terminal."""
        when = datetime.datetime.fromtimestamp(message.timestamp).strftime("%H:%M:%S.%f")[:-3]
        parts = [
            self.style.HTTP_NOT_MODIFIED(when),
            self.style.SUCCESS(message.id),
            _json(list(message.args)),
            _json(message.kwargs),
            self.style.MIGRATE_LABEL(f"from {message.origin or '?'}"),
        ]
        return "  ".join(parts)

    def render_json(self, message: Message) -> str:
        """One JSON object: the message's wire form plus its time in ISO 8601."""
        when = datetime.datetime.fromtimestamp(message.timestamp, datetime.UTC).isoformat()
        return _json({"time": when, **message.to_dict()})


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
