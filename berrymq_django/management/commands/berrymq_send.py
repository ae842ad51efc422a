"""``manage.py berrymq_send IDENTIFIER [ARG ...]``: send one message to a running site."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from django.core.management.base import CommandError, CommandParser

from berrymq_django.core.identifier import parse_identifier
from berrymq_django.peering import send_to
from berrymq_django.rpc.client import PeerError
from berrymq_django.rpc.urls import shown_url

from ._remote import (
    EXCHANGE_SECONDS,
    SiteCommand,
    add_site_options,
    api_key,
    peer_failure,
    positive_seconds,
    site_url,
)


class Command(SiteCommand):
    """Send IDENTIFIER with ARGs (JSON where they parse, else strings) and --kwargs."""

    help = (
        "Send one message to a running site, as if twittered there: its followers and "
        "queues receive it, and it goes on to the site's peers. Each ARG is read as JSON "
        "when it parses (42, true, [1, 2], '{\"a\": 1}') and as a string otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", help="e.g. order:created")
        # Not dest "args": BaseCommand keeps that name for its own positional list.
        parser.add_argument("values", nargs="*", metavar="ARG", help="Positional arguments.")
        parser.add_argument(
            "--kwargs", help="Keyword arguments as a JSON object, e.g. '{\"a\": 1}'."
        )
        add_site_options(parser, "to send to")
        parser.add_argument(
            "--timeout",
            type=float,
            default=EXCHANGE_SECONDS,
            help=f"Seconds (> 0) the whole exchange may take (default {EXCHANGE_SECONDS:g}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        identifier = options["identifier"]
        try:
            parse_identifier(identifier)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"Bad identifier {identifier!r}: {exc}") from None
        values = [_value(text) for text in options["values"]]
        kwargs = _kwargs(options["kwargs"])
        timeout = positive_seconds(options["timeout"], "--timeout")
        assert timeout is not None  # it has a default
        url = site_url(options["url"])
        key = api_key(options["api_key"])
        try:
            message = send_to(url, identifier, values, kwargs, api_key=key, timeout=timeout)
        except ValueError as exc:  # a local identifier: sent nowhere
            raise CommandError(f"Bad identifier {identifier!r}: {exc}") from None
        except PeerError as exc:
            raise peer_failure(exc, url) from None
        self.stdout.write(
            f"Sent {self.style.SUCCESS(identifier)} {json.dumps(values)} {json.dumps(kwargs)} "
            f"to {shown_url(url)} (uid {message.uid})"
        )


def _value(text: str) -> Any:
    """Return ARG as JSON if it parses, else as the string; CommandError if JSON cannot send it."""
    try:
        value = json.loads(text, parse_constant=_no_number)
    except _NotJSON as exc:
        raise CommandError(f"ARG {text!r} {exc}; quote it to send a string.") from None
    except ValueError:
        return text
    _check_sendable(value, f"ARG {text!r}")
    return value


def _kwargs(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text, parse_constant=_no_number)
    except _NotJSON as exc:
        raise CommandError(f"--kwargs {text!r} {exc}.") from None
    except ValueError as exc:
        raise CommandError(f"--kwargs is not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise CommandError(f"--kwargs must be a JSON object, not {text!r}.")
    _check_sendable(value, f"--kwargs {text!r}")
    return value


class _NotJSON(Exception):
    """A value Python's JSON parser takes and JSON itself does not: NaN, Infinity."""


def _no_number(token: str) -> Any:
    raise _NotJSON(f"holds {token}, which is no JSON number")


def _check_sendable(value: Any, what: str) -> None:
    # What send_to writes (orjson): a number out of range (1e400 parses as inf) would
    # arrive as null, an integer beyond 64 bits would not go at all.
    if _has_infinity(value):
        raise CommandError(f"{what} holds a number out of JSON's range (inf).")
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise CommandError(f"{what} cannot be sent as JSON: {exc}.") from None


def _has_infinity(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_infinity(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_infinity(item) for item in value)
    return False
