"""LocalBackend: one process, nothing leaves it; the dispatcher's default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .store import QueueStore

if TYPE_CHECKING:
    from .contracts import Inbox
    from .identifier import Identifier
    from .message import Message

__all__ = ["LocalBackend"]


class LocalBackend:
    """Implement ``core.contracts.Backend`` inside one process."""

    #: Nothing to carry: routes skip publish() entirely.
    forwards = False

    def bind(self, inbox: Inbox) -> None:
        """Nothing comes in from elsewhere."""

    def publish(self, message: Message) -> None:
        """Nothing to do: local delivery already happened."""

    def close(self) -> None:
        """Nothing to release."""

    def status(self) -> dict[str, Any]:
        return {"connected": True}

    def shared_store(self, identifier: Identifier, maxsize: int) -> QueueStore:
        return QueueStore(maxsize)
