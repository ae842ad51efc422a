"""berryMQ's exceptions.

    BerryMQError
     └── ImproperlyConfiguredBackend   a backend could not be built from its options

queue.Empty (re-exported as berrymq_django.Empty) is raised by Queue.get();
malformed identifiers raise the built-in ValueError/TypeError.
"""

from __future__ import annotations

__all__ = ["BerryMQError", "ImproperlyConfiguredBackend"]


class BerryMQError(Exception):
    """Base class of berryMQ's own errors."""


class ImproperlyConfiguredBackend(BerryMQError, ValueError):
    """A backend was given options it cannot work with; the message names the option.

    Django's glue turns it into ImproperlyConfigured; the backends stay Django-free.
    """
