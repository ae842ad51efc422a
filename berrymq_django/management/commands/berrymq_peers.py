"""``manage.py berrymq_peers``: is each configured peer up, how fast, and does it take our key?"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from berrymq_django.conf import berrymq_settings
from berrymq_django.peering import probe_peers, site_status
from berrymq_django.rpc.client import PeerError

from ._remote import SiteCommand, api_key, checked_url, peer_failure, positive_seconds

# Link states (rpc.peers.PeerLink.state) that mean the link is not getting through.
FAILING_STATES = frozenset({"retrying", "stopped"})


class Command(SiteCommand):
    """Probe every BERRYMQ["PEERS"] entry, and show the running site's links."""

    help = (
        "For each peer in BERRYMQ['PEERS']: reachable or not, round-trip time, whether our "
        "key is accepted, and the peer's own figures. With a key for this site (--api-key or "
        "$BERRYMQ_API_KEY), also every link of the running site: state, buffered, sent, "
        "retried, dropped, last error. Exits 1 when a peer is unreachable or refuses our key, "
        "when a link of the site is failing, or when the site cannot tell its links."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --json, --timeout, --url and --api-key."""
        parser.add_argument("--json", action="store_true", help="Print one JSON document.")
        parser.add_argument("--timeout", type=float, default=5.0, help="Seconds (> 0) per peer.")
        parser.add_argument(
            "--url", help="This site's endpoint, for its links' figures (default: SELF_URL)."
        )
        parser.add_argument(
            "--api-key", help="A key this site accepts (default: $BERRYMQ_API_KEY)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Probe the peers, read the site's links, print; CommandError listing what fails."""
        timeout = positive_seconds(options["timeout"], "--timeout")
        assert timeout is not None  # it has a default
        url = checked_url(options["url"]) if options["url"] else berrymq_settings.SELF_URL
        key = api_key(options["api_key"])
        reports = probe_peers(timeout=timeout)
        links: dict[str, Any] | None = None
        links_error = None
        if url and key:
            try:
                links = site_status(url, key, timeout=timeout).get("peers", {})
            except PeerError as exc:
                links_error = str(peer_failure(exc, url))
        if options["json"]:
            document = {"peers": reports, "links": links, "links_error": links_error}
            self.stdout.write(json.dumps(document, indent=2, default=str))
        else:
            self.write_report(reports, links, links_error, url, key)
        problems = _problems(reports, links, links_error)
        if problems:
            raise CommandError("; ".join(problems) + ".")

    def write_report(
        self,
        reports: list[dict[str, Any]],
        links: dict[str, Any] | None,
        links_error: str | None,
        url: str | None,
        key: str | None,
    ) -> None:
        """Print a block per configured peer, then the site's other links, then hints."""
        style = self.style
        if not reports:
            self.stdout.write("No peers configured (BERRYMQ['PEERS'] is empty).")
        for r in reports:
            self.stdout.write(f"{style.MIGRATE_HEADING(r['name'])}  {r['style']}  {r['url']}")
            if r["reachable"]:
                reach = style.SUCCESS(f"yes, {r['rtt_ms']:.1f} ms")
            else:
                reach = style.ERROR(f"no: {r['error']}")
            self.stdout.write(f"  reachable  {reach}")
            if r["reachable"]:
                accepted = {True: style.SUCCESS("accepted"), False: style.ERROR("refused")}
                key_text = accepted.get(r["key_accepted"], style.WARNING("unknown"))
                if r["key_accepted"] is not True and r["error"]:
                    key_text += f" ({r['error']})"
                self.stdout.write(f"  our key    {key_text}")
            peer = r["status"]
            if peer:
                self.stdout.write(
                    f"  peer       node {peer.get('node')}, connections "
                    f"{json.dumps(peer.get('connections_by_style', peer.get('connections')))}, "
                    f"{len(peer.get('peers') or {})} link(s) of its own"
                )
            if links is not None:
                self.stdout.write(f"  our link   {self.link(links.get(r['name']))}")
        configured = {r["name"] for r in reports}
        others = sorted((name, f) for name, f in (links or {}).items() if name not in configured)
        for name, figures in others:
            # Links made by hand (interconnect()...) or by peers calling back.
            self.stdout.write(
                f"{style.MIGRATE_HEADING(name)}  {figures.get('style')}  {figures.get('url')}"
            )
            self.stdout.write(f"  site link  {self.link(figures)}")
        if links is None:
            if links_error:
                self.stdout.write(style.ERROR(f"This site's links: {links_error}"))
            elif not url:
                self.stdout.write("This site's links: set SELF_URL or --url to see them.")
            elif not key:
                self.stdout.write(
                    "This site's links: pass --api-key or set $BERRYMQ_API_KEY to see them."
                )
        elif not links:
            self.stdout.write("This site's links: none running.")

    def link(self, figures: dict[str, Any] | None) -> str:
        """One link's figures on one line, in red when it is failing."""
        if not figures:
            return "not running in the site"
        text = (
            f"{figures['state']}: buffered {figures['buffered']}, sent {figures['sent']}, "
            f"retried {figures['retried']}, dropped {figures['dropped']}"
        )
        if figures.get("last_error"):
            text += f"; last error {figures['last_error']}"
        return self.style.ERROR(text) if figures["state"] in FAILING_STATES else text


def _problems(
    reports: list[dict[str, Any]], links: dict[str, Any] | None, links_error: str | None
) -> list[str]:
    problems = []
    failing = [r["name"] for r in reports if not r["reachable"] or r["key_accepted"] is False]
    if failing:
        problems.append(
            f"{len(failing)} of {len(reports)} peer(s) unreachable or refusing our key: "
            f"{', '.join(failing)}"
        )
    stuck = sorted(name for name, f in (links or {}).items() if f.get("state") in FAILING_STATES)
    if stuck:
        problems.append(f"{len(stuck)} link(s) of the running site failing: {', '.join(stuck)}")
    if links_error:
        problems.append(f"the running site's links are unknown ({links_error})")
    return problems
