"""Send messages only once the database transaction that caused them commits.

A follower that reads the database must see the row the message is about;
sending from inside ``transaction.atomic()`` would let it run first, or tell
it about a row a rollback then removes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.identifier import parse_identifier
from berrymq_django.core.message import Message
from berrymq_django.outbox.writer import current_writer, stage_on_commit

__all__ = ["twitter_on_commit"]


def twitter_on_commit(
    identifier: str, /, *args: Any, using: str | None = None, **kwargs: Any
) -> None:
    """Twitter identifier with args and kwargs when the current transaction commits.

    Built on ``transaction.on_commit``: nothing is sent if the transaction (or the
    savepoint around the call) rolls back, and the message goes out at once when
    no transaction is open. ``using`` names the database alias, as in Django; the
    identifier is checked now, so a malformed one fails in the caller.

    With the outbox on (README.rst, "Durable delivery"), the message's outbox
    rows are written in the transaction now, in one INSERT per
    ``berrymq_django.outbox.atomic()`` block; arguments that are not JSON
    raise TypeError here.
    """
    parse_identifier(identifier)
    if current_writer() is not None:
        # The outbox is on: the rows are written in this transaction; local followers
        # still run at commit.
        message = Message(identifier, args, kwargs, default_dispatcher.node_name)
        deliver = partial(default_dispatcher.send, message, forward=False)
        if stage_on_commit(message, deliver, using):
            return
    send = partial(default_dispatcher.twitter, identifier, *args, **kwargs)
    transaction.on_commit(send, using=using)
