"""A client process driven over stdin, whose stdout lines are collected as they come.

peer = Peer("ruby", [ruby, "script.rb"], env, cwd)
peer.tell("twitter 5")          # a line on its stdin
peer.wait_for("sent 5")         # the first line starting so, within a deadline
peer.got("order:")              # the JSON after "got " on each line, by identifier
peer.close()                    # "quit", wait for the exit; everything it said
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.support import eventually

__all__ = ["Peer"]


class Peer:
    """A client process driven over stdin; its stdout lines are collected as they come."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def has(self, prefix: str) -> bool:
        """Whether it said a line starting with prefix."""
        return any(line.startswith(prefix) for line in self.output())

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        """Wait for a line starting with prefix; return it. Fails with everything said."""

        def probe() -> str | None:
            exited = self.process.poll() is not None and not self._reader.is_alive()
            line = next((line for line in self.output() if line.startswith(prefix)), None)
            if line is None and exited:
                raise AssertionError(f"{self.name} exited:\n" + "\n".join(self.output()))
            return line

        line = eventually(
            probe,
            until=lambda line: line is not None,
            timeout=timeout,
            what=f"{self.name} to say {prefix!r}",
        )
        assert line is not None
        return line

    def got(self, identifier_prefix: str) -> list[dict[str, Any]]:
        """The messages its followers received whose identifier starts with identifier_prefix."""
        messages = [json.loads(line[4:]) for line in self.output() if line.startswith("got ")]
        return [m for m in messages if m["id"].startswith(identifier_prefix)]

    def close(self) -> str:
        """Say quit, wait for the exit; return everything it said."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):  # it is exiting already
                self.tell("quit")
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        return "\n".join(self.output())
