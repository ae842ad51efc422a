"""The app's models: the durable outbox's table (see berrymq_django.outbox)."""

from __future__ import annotations

from berrymq_django.outbox.models import OutboxMessage

__all__ = ["OutboxMessage"]
