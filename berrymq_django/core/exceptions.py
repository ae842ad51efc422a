"""berryMQ's exceptions.

    BerryMQError
     ├── ImproperlyConfiguredBackend   a backend could not be built from its options
     └── FollowerFailed                a grouped follower raised (its error is the cause)

queue.Empty (re-exported as berrymq_django.Empty) is raised by Queue.get();
malformed identifiers raise the built-in ValueError/TypeError.
"""

from __future__ import annotations

__all__ = ["BerryMQError", "FollowerFailed", "ImproperlyConfiguredBackend"]


class BerryMQError(Exception):
    """Base class of berryMQ's own errors."""


class ImproperlyConfiguredBackend(BerryMQError, ValueError):
    """A backend was given options it cannot work with; the message names the option.

    Django's glue turns it into ImproperlyConfigured; the backends stay Django-free.
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
