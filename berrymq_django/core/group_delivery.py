"""Group delivery: running this process's members of a follower group for one message.

The Dispatcher inherits this part, above the delivery rule (``Delivery``)
that it runs each member under. A backend that distributes follower groups (``GroupTransport``)
hands each grouped message to one process, which calls
``receive_group(group, message)``; routes built for every other path leave
grouped followers out (see ``Registrations._route``).

Which members of a group follow an identifier is decided once, like a
route: the answer is cached by (group, identifier) and the cache is dropped
whenever the routes are (``_invalidate``, under ``self._lock``). Readers
take it without the lock; writers add entries under the lock and replace the
dict to drop it, so a reader always sees a complete tuple.
"""

from __future__ import annotations

from time import time
from typing import TYPE_CHECKING, Any, cast

from .delivery import Delivery
from .exceptions import FollowerFailed
from .identifier import parse_identifier
from .registrations import _MAX_CACHED_ROUTES
from .subscription import SKIPPED

if TYPE_CHECKING:
    from .contracts import Backend, GroupTransport
    from .identifier import Identifier
    from .message import Message
    from .subscription import Subscription

__all__ = ["GroupDelivery"]


class GroupDelivery(Delivery):
    """Run the members of a follower group here; tell the backend of joins and leaves."""

    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        # (group, identifier) -> the members of group here that follow identifier.
        self._group_members: dict[tuple[str, str], tuple[Subscription, ...]] = {}

    def receive_group(self, group: str, message: Message) -> int:
        """Run this process's members of group that match message; return how many ran.

        A backend that distributes groups calls this in the one process that
        took the message. 0 means no member here (the backend may hand the
        message to another process). A talk() request is answered as usual.
        Raises ``FollowerFailed`` (its cause the follower's exception) when a
        member raised, after every member had its turn; logged and counted too.
        Raises TypeError/ValueError naming a malformed identifier.
        """
        if self._dead:
            self._sweep()
        members = self._group_members.get((group, message.id))
        if members is None:
            members = self._members_of(group, message.id)
        self._roll(time())
        failure: Exception | None = None
        results: list[Any] = []
        for sub in members:
            try:
                result = self._attempt(sub, message)
            except Exception as exc:
                self._failed(sub, message, exc, False)
                failure = exc
                continue
            if result is not SKIPPED:
                results.append(result)
        if message.reply_to is not None:
            for result in results:
                self.twitter(message.reply_to, result, in_reply_to=message.uid)
        if failure is not None:
            raise FollowerFailed(group, message.id, failure) from failure
        return len(members)

    def _members_of(self, group: str, identifier: str) -> tuple[Subscription, ...]:
        """Find (and cache) the members of group here that follow identifier."""
        ident = parse_identifier(identifier)  # raises naming a malformed one
        with self._lock:  # the registry changes under the lock only
            members = tuple(s for s in self._registry.matching(ident) if s.group == group)
            if len(self._group_members) >= _MAX_CACHED_ROUTES:
                self._group_members = {}
            self._group_members[(group, identifier)] = members
        return members

    def _invalidate(self) -> None:
        """Drop every cached route and group membership; the caller holds self._lock."""
        super()._invalidate()
        self._group_members = {}

    # -- what Registrations asks ----------------------------------------------

    def _distributes_groups(self) -> bool:
        return bool(getattr(self.backend, "distributes_groups", False))

    def _join_group(self, group: str, pattern: Identifier) -> None:
        if self._distributes_groups():
            cast("GroupTransport", self.backend).join_group(group, pattern)

    def _leave_group(self, group: str, pattern: Identifier) -> None:
        if self._distributes_groups():
            cast("GroupTransport", self.backend).leave_group(group, pattern)
