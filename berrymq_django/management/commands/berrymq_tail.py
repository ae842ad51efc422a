"""``manage.py berrymq_tail [PATTERN]``: print the messages a running site sends, as they come."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import orjson
from django.core.management.base import CommandError, CommandParser

from berrymq_django.core.identifier import parse_identifier
from berrymq_django.core.message import Message
from berrymq_django.core.store import Empty
from berrymq_django.peering import connect_via_queue
from berrymq_django.rpc.client import (
    PeerError,
    PeerUnavailable,
    RemoteError,
    RemoteQueue,
)
from berrymq_django.rpc.urls import shown_url

from ._remote import (
    EXCHANGE_SECONDS,
    SiteCommand,
    add_site_options,
    api_key,
    peer_failure,
    positive_count,
    positive_seconds,
    site_url,
)

# Asking a site out of reach again: after this pause, doubling up to the most.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 2.0


class _GaveUp(Exception):
    """The deadline passed while the site was out of reach."""

    def __init__(self, error: PeerUnavailable) -> None:
        super().__init__(str(error))
        self.error = error


class Command(SiteCommand):
    """Open a queue for PATTERN on the site (connect_via_queue) and print what it gets."""

    help = (
        "Print the messages matching PATTERN (default *:*) that a running site sends, as they "
        "arrive: time, identifier, args, kwargs and origin. When the site restarts or is out "
        "of reach for a while, the command opens a new queue once it answers again (within "
        "--timeout, if given). Ctrl-C closes the queue on the site."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add PATTERN, --url, --api-key, --json, --count, --timeout and --ttl."""
        parser.add_argument("pattern", nargs="?", default="*:*", help="e.g. order:* (default *:*)")
        add_site_options(parser, "to tail")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")
        parser.add_argument("--count", type=int, help="Stop after N messages (1 or more).")
        parser.add_argument(
            "--timeout",
            type=float,
            help="Stop after S seconds, S > 0 (with --count: an error if fewer than N came).",
        )
        parser.add_argument(
            "--ttl",
            type=float,
            default=60.0,
            help="Seconds (> 0) the site keeps the queue if this command dies without closing it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the options, open the queue, print what comes; CommandError on any failure."""
        pattern = options["pattern"]
        try:
            parse_identifier(pattern)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"Bad pattern {pattern!r}: {exc}") from None
        count = positive_count(options["count"], "--count")
        timeout = positive_seconds(options["timeout"], "--timeout")
        ttl = positive_seconds(options["ttl"], "--ttl")
        assert ttl is not None  # it has a default
        url = site_url(options["url"])
        key = api_key(options["api_key"])
        # --timeout bounds reaching the site too: each exchange takes at most that long.
        exchange = EXCHANGE_SECONDS if timeout is None else min(EXCHANGE_SECONDS, timeout)
        started = time.monotonic()
        try:
            queue = connect_via_queue(url, pattern, ttl, key, timeout=exchange)
        except PeerError as exc:
            raise peer_failure(exc, url) from None
        shown = shown_url(url)  # a password in the URL is never shown
        self.stderr.write(f"Tailing {pattern} on {shown} (Ctrl-C to stop)")
        render = self.render_json if options["json"] else self.render
        deadline = None if timeout is None else started + timeout
        got = 0
        try:
            for message in self.follow(queue, deadline):
                self.stdout.write(render(message))
                got += 1
                if got == count:
                    return
        except _GaveUp as exc:
            raise CommandError(
                f"{shown} was still out of reach when --timeout ({timeout:g} s) ran out, after "
                f"{got} message(s). {peer_failure(exc.error, url)}"
            ) from None
        except PeerError as exc:
            raise peer_failure(exc, url) from None
        except KeyboardInterrupt:
            self.stderr.write("Stopped; the queue on the site is closed.")
            return
        finally:
            queue.close()
        if count is not None:
            raise CommandError(f"Timed out after {timeout:g} s with {got} of {count} message(s).")

    def follow(self, queue: RemoteQueue, deadline: float | None) -> Iterator[Message]:
        """Yield the queue's messages until deadline (None: for ever), across site restarts.

        A site out of reach is asked again, backing off up to RETRY_MAX_SECONDS; a
        site that forgot the queue (it restarted, or the token expired) gets a new
        one. Raise _GaveUp when the deadline passes while the site is out of reach,
        and any other PeerError (a refused key, say) at once.
        """
        lost: PeerUnavailable | None = None
        pause = RETRY_FIRST_SECONDS
        shown = shown_url(queue.url)
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if lost is not None:
                    raise _GaveUp(lost)
                return
            try:
                if queue.token is None:
                    queue.reconnect()
                    self.stderr.write(
                        f"Opened a new queue on {shown}: what the site sent meanwhile is not shown."
                    )
                message = queue.get(timeout=remaining)
            except Empty:
                return
            except PeerUnavailable as exc:
                if lost is None:
                    self.stderr.write(f"Lost {shown} ({exc}); trying again (Ctrl-C to stop).")
                lost = exc
                time.sleep(pause if remaining is None else max(0.0, min(pause, remaining)))
                pause = min(pause * 2, RETRY_MAX_SECONDS)
                continue
            except RemoteError as exc:
                if not exc.invalid_token:
                    raise
                queue.token = None  # forgotten there: open a new one on the next turn
                continue
            if lost is not None:
                self.stderr.write(f"{shown} answers again.")
                lost, pause = None, RETRY_FIRST_SECONDS
            yield message

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
