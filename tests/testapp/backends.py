"""A backend that keeps its options, to check how settings reach the backend."""

from __future__ import annotations

from typing import Any

from berrymq_django.backends.memory import MemoryBackend


class RecordingBackend(MemoryBackend):
    """Behave like MemoryBackend; remember the options and whether close() ran."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self.closed = False

    def close(self) -> None:
        """Mark the backend closed, then close as MemoryBackend does."""
        self.closed = True
        super().close()
