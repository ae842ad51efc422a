"""Run by test_faults.py in a site's environment: twitter N messages, then exit at once.

The peer links flush what they hold at interpreter exit (for 5 s at most).
"""

from __future__ import annotations

import atexit
import sys
import time

import django

django.setup()

from berrymq_django import twitter  # noqa: E402


def main(count: int) -> None:
    # Registered after the app's own exit hooks, so it runs before them: it marks when
    # the exit starts, and a test bounds the exit alone, not the start-up before it.
    atexit.register(lambda: print(f"exit starts at {time.time()}", flush=True))
    for i in range(count):
        twitter("exit:soon", i)


if __name__ == "__main__":
    main(int(sys.argv[1]))
