"""manage.py berrymq_followers: table, JSON and Graphviz DOT listings of the followers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from berrymq_django import Follower, Message, Queue, following, following_function
from berrymq_django.introspection import FollowerRow, follower_rows

MODULE = __name__
NO_FIGURES = {
    "delivered": 0,
    "errors": 0,
    "mean_seconds": None,
    "last_error": None,
    "last_error_at": None,
}


def run(*args: str) -> str:
    out = StringIO()
    call_command("berrymq_followers", *args, stdout=out)
    return out.getvalue()


class Inventory(metaclass=Follower):
    """A follower class for the listing."""

    @following("order:created")
    def reserve(self, message: Message) -> None:
        """Do nothing: only the registration matters here."""


@pytest.fixture
def network() -> Iterator[dict[str, Any]]:
    """Register one follower of each kind (the autouse fixture isolates them)."""

    @following_function("order:*")
    def audit(message: Message) -> None:
        """Do nothing."""

    @following_function("order:created", guard_condition=lambda m: bool(m.args))
    async def notify(message: Message) -> None:
        """Do nothing."""

    inventory = Inventory()
    queue = Queue("task:*")
    yield {"audit": audit, "notify": notify, "inventory": inventory, "queue": queue}


@pytest.mark.usefixtures("network")
def test_rows_are_grouped_by_identifier_in_delivery_order() -> None:
    assert follower_rows() == [
        FollowerRow("order:*", f"{MODULE}.network.<locals>.audit", "function", False, False),
        FollowerRow("order:created", f"{MODULE}.network.<locals>.notify", "function", True, True),
        FollowerRow("order:created", f"{MODULE}.Inventory.reserve", "method", False, False),
        FollowerRow("task:*", "Queue('task:*')", "queue", False, False),
    ]


@pytest.mark.usefixtures("network")
def test_table_is_the_default() -> None:
    assert run() == run("--format", "table")
    lines = run().splitlines()
    header = ["IDENTIFIER", "FOLLOWER", "KIND", "DELIVERED", "ERRORS", "MEAN"]
    assert lines[0].split() == header
    none = ["0", "0", "-"]  # nothing delivered yet: no figures
    assert lines[1].split() == ["order:*", f"{MODULE}.network.<locals>.audit", "function", *none]
    assert lines[2].split() == [
        "order:created",
        f"{MODULE}.network.<locals>.notify",
        "function",
        "(async,",
        "guarded)",
        *none,
    ]
    # The identifier is shown once per group; the follower column stays aligned.
    assert lines[3].split() == [f"{MODULE}.Inventory.reserve", "method", *none]
    assert lines[3].index(MODULE) == lines[2].index(MODULE)
    assert lines[4].split() == ["task:*", "Queue('task:*')", "queue", *none]
    assert lines[-1] == "3 identifiers, 4 followers."


@pytest.mark.usefixtures("network")
def test_json_lists_identifiers_with_their_followers() -> None:
    document = json.loads(run("--format", "json"))
    assert [entry["identifier"] for entry in document] == ["order:*", "order:created", "task:*"]
    assert document[1]["followers"] == [
        {
            "name": f"{MODULE}.network.<locals>.notify",
            "kind": "function",
            "async": True,
            "guarded": True,
            "group": None,
            **NO_FIGURES,
        },
        {
            "name": f"{MODULE}.Inventory.reserve",
            "kind": "method",
            "async": False,
            "guarded": False,
            "group": None,
            **NO_FIGURES,
        },
    ]
    assert document[2]["followers"][0]["kind"] == "queue"


@pytest.mark.usefixtures("network")
def test_dot_prints_the_graphviz_network() -> None:
    output = run("--dot")
    assert output == run("--format", "dot")
    assert output.startswith("digraph berrymq {")
    assert output.rstrip().endswith("}")
    assert f'"order:created" -> "{MODULE}.Inventory.reserve";' in output
    assert '"task:*" -> "Queue(\'task:*\')";' in output


def test_empty_network_in_each_format() -> None:
    assert run() == "No followers are registered.\n"
    assert json.loads(run("--format", "json")) == []
    assert run("--dot").startswith("digraph berrymq {")


def test_a_collected_follower_is_not_listed() -> None:
    inventory = Inventory()
    assert "Inventory.reserve" in run()
    del inventory
    assert "Inventory.reserve" not in run()


def test_dot_and_format_exclude_each_other() -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("--dot", "--format", "json")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'yaml'"):
        run("--format", "yaml")


def test_every_option_has_help_text() -> None:
    from berrymq_django.management.commands.berrymq_followers import Command

    parser = Command().create_parser("manage.py", "berrymq_followers")
    own = [action for action in parser._actions if action.dest == "format"]
    assert len(own) == 2
    assert all(action.help for action in own)
    assert "table" in parser.format_help()


@pytest.mark.berrymq_shared
def test_lists_what_autodiscovery_registered() -> None:
    output = run()
    assert "example_project.shop.receivers.log_order" in output
    assert "example_project.shop.services.StockKeeper.on_order" in output
    assert "Queue('order:packed', shared=True)" in output  # the shop's packing queue


def test_a_grouped_follower_shows_its_group() -> None:
    @following_function("order:*", group="stock")
    def reserve(message: Message) -> None:
        """Do nothing."""

    (row,) = follower_rows()
    assert row.group == "stock"
    assert row.kind_label == "function (group stock)"
    assert run().splitlines()[1].split()[-6:-3] == ["function", "(group", "stock)"]
    (entry,) = json.loads(run("--format", "json"))
    assert entry["followers"][0]["group"] == "stock"
