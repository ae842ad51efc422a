"""The outbox table: one row per message and destination, until the destination has it."""

from __future__ import annotations

from django.db import models

from .table import DEAD, DELIVERED, PENDING, TABLE

__all__ = ["DEAD", "DELIVERED", "PENDING", "OutboxMessage"]


class OutboxMessage(models.Model):
    """A message on its way to one destination ("backend", or "peer:<name>").

    ``payload`` is the message as the destination takes it (JSON text: the
    peer's ``send_messages`` wire form); ``created`` and ``finished`` are
    Unix times in seconds.
    """

    id = models.BigAutoField(primary_key=True)
    destination = models.CharField(max_length=255)
    identifier = models.TextField()
    uid = models.CharField(max_length=64)
    payload = models.TextField()
    created = models.FloatField()
    state = models.SmallIntegerField(default=PENDING)
    error = models.TextField(default="", blank=True)
    finished = models.FloatField(null=True, blank=True)

    class Meta:
        app_label = "berrymq_django"
        db_table = TABLE
        indexes = (
            models.Index(fields=["state", "destination", "id"], name="berrymq_outbox_pending"),
        )

    def __str__(self) -> str:
        return f"{self.identifier} -> {self.destination} ({self.uid})"
