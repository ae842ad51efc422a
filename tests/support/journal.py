"""Read a file that another process is still appending lines to.

A reader can catch a writer between the two halves of a line: a
``write()`` to a regular file is not atomic with respect to a concurrent
``read()``.  Only lines that end in a newline are complete, so only those
are returned; the rest is read again on the next poll.
"""

from __future__ import annotations

from pathlib import Path


def complete_lines(path: Path) -> list[str]:
    """Return the newline-terminated lines of path ([] while it does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return text[: text.rfind("\n") + 1].splitlines()
