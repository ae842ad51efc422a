"""What the commands that talk to a running site share: its URL, our key, clear errors."""

from __future__ import annotations

import os

from django.core.management.base import CommandError, CommandParser

from berrymq_django.conf import berrymq_settings
from berrymq_django.rpc.client import PeerError, PeerUnavailable, RemoteError, Unauthorized

KEY_ENV = "BERRYMQ_API_KEY"


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
    """Return --url, or SELF_URL; raise CommandError when there is neither."""
    url = url or berrymq_settings.SELF_URL
    if not url:
        raise CommandError("No --url given and BERRYMQ 'SELF_URL' is not set: which site?")
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--url must be an http(s) URL, not {url!r}.")
    return str(url)


def api_key(key: str | None) -> str | None:
    """Return --api-key, or $BERRYMQ_API_KEY, or None."""
    return key or os.environ.get(KEY_ENV) or None


def peer_failure(exc: PeerError, url: str) -> CommandError:
    """Turn a PeerError into a CommandError that says what to check."""
    if isinstance(exc, Unauthorized):
        return CommandError(
            f"{url} refused the API key ({exc.message}). Pass --api-key or set {KEY_ENV} to "
            "a key in that site's BERRYMQ['API_KEYS']."
        )
    if isinstance(exc, RemoteError):
        return CommandError(f"{url} answered with an error: {exc.message}")
    if isinstance(exc, PeerUnavailable):
        detail = str(exc).removeprefix(f"{url}: ")
        return CommandError(f"Cannot reach {url}: is the site running? ({detail})")
    return CommandError(f"{url}: {exc}")
