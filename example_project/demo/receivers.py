"""The demo's followers and queue, imported at startup by berrymq_django's autodiscovery.

Everything lives in memory, per process: restarting the server starts afresh.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import UTC, datetime

from berrymq_django import Follower, Message, Queue, following, following_function

# Push side, a plain function: one line per "demo:*" message, the newest 50 kept.
received: deque[str] = deque(maxlen=50)


def describe(message: Message) -> str:
    """Return one human-readable line for ``message``: time, identifier, arguments."""
    at = datetime.fromtimestamp(message.timestamp, tz=UTC).strftime("%H:%M:%S")
    parts = [repr(arg) for arg in message.args]
    parts += [f"{key}={value!r}" for key, value in message.kwargs.items()]
    return f"{at} {message.id}({', '.join(parts)})"


@following_function("demo:*")
def log_demo_message(message: Message) -> None:
    """Record every demo message in the bounded log."""
    received.append(describe(message))


class ClickCounter(metaclass=Follower):
    """Count "*:clicked" messages, from any sender name; each instance counts for itself."""

    def __init__(self) -> None:
        self.count = 0
        # runserver serves requests on several threads; += is not atomic.
        self._lock = threading.Lock()

    @following("*:clicked")
    def on_click(self, message: Message) -> None:
        """Add one click."""
        with self._lock:
            self.count += 1


# Held at module level: an instance only receives while something references it.
click_counter = ClickCounter()

# Pull side: "demo:*" messages wait here until the page's drain button takes them.
inbox = Queue("demo:*")
