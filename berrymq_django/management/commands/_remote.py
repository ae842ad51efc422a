"""What the commands that talk to a running site share: its URL, our key, clear errors."""

from __future__ import annotations

import math
import os
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from berrymq_django.conf import berrymq_settings
from berrymq_django.rpc.client import (
    DEFAULT_TIMEOUT,
    PeerError,
    PeerUnavailable,
    RemoteError,
    Unauthorized,
    header_safe,
)
from berrymq_django.rpc.urls import shown_url, url_problem

KEY_ENV = "BERRYMQ_API_KEY"


class SiteCommand(BaseCommand):
    """A command that reads BERRYMQ: a settings mistake is a CommandError, not a traceback."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        """Run the command; turn ImproperlyConfigured into a CommandError (exit 1)."""
        try:
            return super().execute(*args, **options)
        except ImproperlyConfigured as exc:
            raise CommandError(f"{exc} (manage.py check lists every problem)") from None


def add_site_options(parser: CommandParser, what: str) -> None:
    """Add --url and --api-key, described for what the command does there."""
    parser.add_argument(
        "--url",
        help=f"The berryMQ endpoint of the site {what} (default: BERRYMQ 'SELF_URL').",
    )
    parser.add_argument(
        "--api-key",
        help=f"A key that site accepts (default: ${KEY_ENV}, which keeps it out of shell history).",
    )


def site_url(url: str | None) -> str:
    """Return --url, or SELF_URL; raise CommandError when there is neither or it is no URL."""
    if url is not None:
        return checked_url(url)
    url = berrymq_settings.SELF_URL
    if not url:
        raise CommandError("No --url given and BERRYMQ 'SELF_URL' is not set: which site?")
    return str(url)


def checked_url(url: str) -> str:
    """Return url if it is an http(s) URL with a host; else a CommandError naming it."""
    problem = url_problem(url)
    if problem:
        raise CommandError(f"--url {shown_url(url)!r} {problem}.")
    return url


def api_key(key: str | None) -> str | None:
    """Return --api-key, or $BERRYMQ_API_KEY, or None; CommandError if it cannot be sent.

    The key travels in an HTTP header: printable ASCII without spaces. The
    error names where the key came from, never the key.
    """
    given = key or os.environ.get(KEY_ENV) or None
    if given is not None and not header_safe(given):
        where = "--api-key" if key else f"${KEY_ENV}"
        raise CommandError(
            f"{where} must be printable ASCII without spaces: the key travels in an HTTP header."
        )
    return given


#: How long one exchange with the site may take, unless --timeout is shorter.
EXCHANGE_SECONDS = DEFAULT_TIMEOUT


#: The longest wait an option may ask for: longer ones overflow the platform's clock.
MAX_SECONDS = 365 * 24 * 3600.0


def positive_seconds(value: Any, option: str) -> float | None:
    """Return value (None stays None) if it is a positive, finite number; else a CommandError."""
    if value is None:
        return None
    if not _positive(value) or not math.isfinite(value) or value > MAX_SECONDS:
        raise CommandError(
            f"{option} must be a positive number of seconds, at most {MAX_SECONDS:.0f} "
            f"(a year), not {_shown(value)}."
        )
    return float(value)


def positive_count(value: Any, option: str) -> int | None:
    """Return value (None stays None) if it is an int of 1 or more; else a CommandError."""
    if value is None:
        return None
    if not (_positive(value) and isinstance(value, int)):
        raise CommandError(f"{option} must be 1 or more, not {_shown(value)}.")
    return int(value)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _shown(value: Any) -> str:
    # As typed: "-1", not "-1.0".
    return f"{value:g}" if isinstance(value, float) else repr(value)


def peer_failure(exc: PeerError, url: str) -> CommandError:
    """Turn a PeerError into a CommandError that says what to check."""
    url = shown_url(url)  # a password in the URL is never shown
    if isinstance(exc, Unauthorized):
        return CommandError(
            f"{url} refused the API key ({exc.message}). Pass --api-key or set {KEY_ENV} to "
            "a key in that site's BERRYMQ['API_KEYS']."
        )
    if isinstance(exc, RemoteError):
        return CommandError(f"{url} answered with an error: {exc.message}")
    if isinstance(exc, PeerUnavailable):
        detail = str(exc).removeprefix(f"{url}: ")
        status = exc.status
        if status is None:
            return CommandError(f"Cannot reach {url}: is the site running? ({detail})")
        return CommandError(f"{url} answered HTTP {status} {_phrase(status)}: {_advice(status)}")
    return CommandError(f"{url}: {exc}")


def _phrase(status: int) -> str:
    try:
        return f"({HTTPStatus(status).phrase})"
    except ValueError:
        return "(an unknown status)"


def _advice(status: int) -> str:
    if status in (404, 405):
        return (
            "no berryMQ endpoint at that path. Check --url (or SELF_URL): it is the path "
            "where berrymq_django.urls is included, e.g. http://host/berrymq/rpc/."
        )
    if 300 <= status < 400:
        return (
            "a redirect. Give the endpoint's exact URL, with its trailing slash (and https if "
            "the site redirects there)."
        )
    if status == 429:
        return "the site throttles us; try again later."
    if status >= 500:
        return "the site failed or is restarting; see its log."
    return "not a JSON-RPC answer. Is --url (or SELF_URL) the site's berryMQ endpoint?"
