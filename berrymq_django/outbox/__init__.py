"""The durable outbox: a message accepted with the data is delivered even if the process dies.

With ``BERRYMQ["OUTBOX"]["ENABLED"]``, every non-local message leaving the
process is first written to the ``berrymq_outbox`` table in the caller's
transaction (writer.py), and a relay sends it from there to each
destination, deleting it once the destination acknowledged it (relay.py,
destinations.py, store.py). README.rst, "Durable delivery", is the manual.

    from berrymq_django.outbox import atomic

    with atomic():                      # transaction.atomic + one INSERT at its end
        order.save()
        twitter_on_commit("order:created", order.pk)

Modules: options (the settings), models (the table), store (its queries),
writer (the dispatcher's forwarder, ``atomic``), destinations (peer and
backend senders), relay (the thread), setup (turning it on and off).
"""

from __future__ import annotations

from typing import Any

__all__ = ["atomic"]


def __getattr__(name: str) -> Any:
    # The writer imports the model: load it on first use, once the app registry is ready.
    if name == "atomic":
        from .writer import atomic

        return atomic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
