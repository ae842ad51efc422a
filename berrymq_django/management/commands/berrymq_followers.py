"""``manage.py berrymq_followers``: list every identifier and its followers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from berrymq_django.core.api import default_dispatcher
from berrymq_django.introspection import follower_rows, render_json, render_table


class Command(BaseCommand):
    """Print the follower network found after autodiscovery: table, JSON or Graphviz DOT."""

    help = (
        "List every berryMQ identifier with its followers (dotted path and kind: function, "
        "method or queue), as registered once receivers modules are imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Add --format and its --dot shorthand."""
        output = parser.add_mutually_exclusive_group()
        output.add_argument(
            "--format",
            choices=["table", "json", "dot"],
            default="table",
            help="Output format: an aligned table (default), JSON for scripts, or Graphviz "
            "DOT source.",
        )
        output.add_argument(
            "--dot",
            action="store_const",
            const="dot",
            dest="format",
            help="Print the follower network as Graphviz DOT source (the same as "
            "--format dot), e.g. | dot -Tsvg > followers.svg.",
        )

    def handle(self, *args: Any, format: str, **options: Any) -> None:
        """Print the listing in the chosen format."""
        if format == "dot":
            self.stdout.write(default_dispatcher.show_network(), ending="")
            return
        render = render_json if format == "json" else render_table
        self.stdout.write(render(follower_rows()), ending="")
