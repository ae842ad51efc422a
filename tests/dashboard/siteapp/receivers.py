"""Followers of the dashboard's test site: one that always fails, a group that fails
until it is told to stop and one that always fails, quiet ones, and a queue."""

from __future__ import annotations

from berrymq_django import FollowerMixin, Queue, following, following_function

#: Whether chores:* (group "chores") succeeds; "chores:fixed" turns it on.
state = {"fixed": False}

#: A bounded queue of the process, so the queues page has one to show.
audit = Queue("audit:*", maxsize=5)


@following_function("boom:*")
def explode(message):  # type: ignore[no-untyped-def]
    raise ValueError(f"boom with {message.args[0] if message.args else None}")


@following_function("chores:fixed")
def fix_chores(message):  # type: ignore[no-untyped-def]
    state["fixed"] = True


@following_function("chores:do", group="chores")
def do_chore(message):  # type: ignore[no-untyped-def]
    if not state["fixed"]:
        raise RuntimeError("the chore cannot be done yet")


@following_function("invoice:*", group="billing")
def send_invoice(message):  # type: ignore[no-untyped-def]
    raise ConnectionError(f"the mail server refused invoice {message.args[0]}")


@following_function("order:*")
def record_order(message):  # type: ignore[no-untyped-def]
    pass


class Ledger(FollowerMixin):
    """A method follower of two patterns, so the network has a node with two edges in."""

    @following("order:*")
    def on_order(self, message):  # type: ignore[no-untyped-def]
        pass

    @following("audit:*")
    def on_audit(self, message):  # type: ignore[no-untyped-def]
        pass


ledger = Ledger()
