"""The backend contract: where non-local messages and shared queues live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..core.identifier import Identifier
    from ..core.message import Message
    from ..core.store import QueueStore

__all__ = ["BaseBackend"]


class BaseBackend:
    """Subclass and override to carry messages across processes.

    A dispatcher hands its backend every non-local message it sends, but
    only when ``forwards`` is true, so an in-process backend costs nothing
    on the hot path. A backend delivers messages arriving from elsewhere
    with ``dispatcher.deliver(message)``.
    """

    #: Whether publish() should be called for non-local messages.
    forwards: bool = False

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.dispatcher: Dispatcher | None = None

    def bind(self, dispatcher: Dispatcher) -> None:
        """Attach to the dispatcher whose messages this backend carries."""
        self.dispatcher = dispatcher

    def publish(self, message: Message) -> None:
        """Carry a non-local message to the other processes."""
        raise NotImplementedError

    def shared_store(self, identifier: Identifier, maxsize: int) -> QueueStore:
        """Return the store behind shared Queues of identifier."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and threads; called when the backend is replaced."""
