"""berryMQ's exceptions.

    BerryMQError
     ├── ImproperlyConfiguredBackend   a backend could not be built from its options
     ├── BackendUnavailable            the backend cannot answer now; retrying later may work
     ├── FollowerFailed                a grouped follower raised (its error is the cause)
     └── UnencodableMessage            a message's arguments cannot be written as JSON (also
                                       a TypeError)

queue.Empty (re-exported as berrymq_django.Empty) is raised by Queue.get();
malformed identifiers raise the built-in ValueError/TypeError.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "BerryMQError",
    "FollowerFailed",
    "ImproperlyConfiguredBackend",
    "UnencodableMessage",
]


class BerryMQError(Exception):
    """Base class of berryMQ's own errors."""


class ImproperlyConfiguredBackend(BerryMQError, ValueError):
    """A backend was given options it cannot work with; the message names the option.

    Django's glue turns it into ImproperlyConfigured; the backends stay Django-free.
    """


class BackendUnavailable(BerryMQError):
    """The backend cannot answer an operation that needs it now (Redis unreachable, say).

    Transient: the endpoint answers HTTP 503 with JSON-RPC error -32005, which a
    peer link retries, rather than -32603, which it would take as a refusal.
    """


class FollowerFailed(BerryMQError):
    """A member of a follower group raised on a message; the backend may retry it.

    ``group`` and ``identifier`` name what failed; ``__cause__`` is the
    follower's own exception, and ``error`` the same, for reports.
    """

    def __init__(self, group: str, identifier: str, error: Exception) -> None:
        super().__init__(f"group {group!r} follower raised on {identifier!r}: {error!r}")
        self.group = group
        self.identifier = identifier
        self.error = error


class UnencodableMessage(BerryMQError, TypeError):
    """A message's arguments cannot be written as JSON (to the outbox); the message names it.

    The caller's data, not a fault of the site: the endpoint answers -32602.
    """
