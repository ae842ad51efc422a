"""What a peer link does about a failed call: retry, resend part, drop part, or stop.

Kept apart from the link's threads so each rule reads (and is tested) on
its own. ``decide`` looks at the error and the batch in flight and returns
a ``Decision``; the link applies it.

=============================  ============================================
the call failed with           the link
=============================  ============================================
no answer, 5xx, 429, garbage   retries the same batch after a backoff
401/403 (our key refused)      keeps buffering and retries after a backoff
invalid token, callback link   stops: the peer closed the interconnect
invalid token, token worked    connects again at once, then resends
invalid token, fresh token     connects again after a backoff
LIMIT_EXCEEDED, batch > 1      sends the first half now, the rest after it
                               (and never more than the peer's limit again)
INVALID_PARAMS naming index i  drops message i alone, resends the rest now
any other refusal of a batch   drops the batch (it would block the link)
=============================  ============================================
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Generic, Literal, TypeVar

import orjson

from .client import RemoteError, Unauthorized
from .protocol import INVALID_PARAMS, LIMIT_EXCEEDED

#: What a batch holds: messages, with whatever a link keeps beside each.
T = TypeVar("T")

__all__ = ["Action", "Decision", "decide", "refused_index", "unencodable"]

Action = Literal["stop", "retry", "reconnect", "reconnect_now", "resend"]

# Older peers name a refused message only in the text: "messages[i]".
_BAD_INDEX = re.compile(r"\bmessages\[(\d+)\]")


@dataclasses.dataclass
class Decision(Generic[T]):
    """What to do after a failed call.

    ``action``: stop the link; retry after a backoff; reconnect (forget the
    token) after a backoff or at once; or resend what is left at once.
    ``refused``: messages to drop, count and log. ``requeue``: the back of a
    split batch, to go back to the front of the buffer. ``batch_limit``: the
    most messages per call from now on, when the peer said so.
    """

    action: Action
    refused: list[T] = dataclasses.field(default_factory=list)
    requeue: list[T] = dataclasses.field(default_factory=list)
    batch_limit: int | None = None


def refused_index(exc: RemoteError) -> int | None:
    """Return the index of the one message a send_messages error refuses, if it names one."""
    if exc.code != INVALID_PARAMS:
        return None
    if isinstance(exc.data, dict) and isinstance(exc.data.get("index"), int):
        return int(exc.data["index"])
    match = _BAD_INDEX.search(exc.message)
    return int(match.group(1)) if match else None


def decide(
    exc: Exception, *, callback: bool, token_worked: bool, batch: list[T], batch_limit: int
) -> Decision[T]:
    """Decide what a link does after exc; batch is the batch in flight (not changed here).

    ``callback``: the link calls back someone else's interconnect (it cannot
    connect anew); ``token_worked``: a call succeeded with the current token.
    """
    if not isinstance(exc, RemoteError) or isinstance(exc, Unauthorized):
        return Decision("retry")  # unreachable, or our key refused: keep buffering and retrying
    if exc.invalid_token:
        if callback:
            return Decision("stop")
        # The peer restarted or the token expired: connect again, at once if the
        # token used to work (a fresh one refused means something else is wrong).
        return Decision("reconnect_now" if token_worked else "reconnect")
    if not batch:
        return Decision("retry")
    if exc.code == LIMIT_EXCEEDED and len(batch) > 1:
        # Too much for the peer at once: send the first half, the rest after it.
        data = exc.data if isinstance(exc.data, dict) else {}
        limit = data.get("limit")
        if data.get("setting") == "MAX_MESSAGES_PER_CALL" and isinstance(limit, int):
            batch_limit = max(1, min(batch_limit, limit))
        keep = max(1, min(len(batch) // 2, batch_limit))
        return Decision("resend", requeue=batch[keep:], batch_limit=batch_limit)
    index = refused_index(exc)
    if index is not None and index < len(batch):
        return Decision("resend", refused=[batch[index]])
    # The peer refuses this batch itself; resending it would block the link.
    return Decision("resend", refused=list(batch))


def unencodable(batch: list[T], wire: list[dict[str, Any]]) -> list[T]:
    """Return the items of batch (wire: their wire dicts) JSON cannot carry; all if none alone."""
    bad = []
    for item, data in zip(batch, wire, strict=True):
        try:
            orjson.dumps(data, default=str)
        except TypeError:
            bad.append(item)
    return bad or list(batch)  # none fails alone: give up on the batch
