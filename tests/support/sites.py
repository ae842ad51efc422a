"""Run a real Django site: gunicorn on a free loopback port, with its settings and a log.

    site = SiteProcess(
        "site-b",
        app="tests.peering.site_wsgi:application",
        settings="tests.peering.site_settings",
        ready="/received/?count=1",
        env={"BERRYMQ_SITE_NAME": "site-b"},
        gunicorn={"worker_class": "gthread", "threads": 8},
    )
    with site:                           # start(): up once GET ready answers 200
        site.http.get("/received/")      # an httpx.Client on site.base_url
    # closed: stopped at once, its log and config removed

With ``server="uvicorn"``, app is the ASGI application and the site runs
under uvicorn instead (one process; ``uvicorn`` takes its command-line
options by name, e.g. ``{"backlog": 8192}``).

gunicorn reads its settings from a config file the site writes, not from
flags, because gunicorn ignores a name in a config file that its release
does not know: ``control_socket_disable`` (gunicorn 25.1+) keeps every site
from claiming the one control socket in ``$HOME``. The site's output
(gunicorn's and Django's logging on stderr) goes to ``log_path``. A site that
exits or does not answer in time raises RuntimeError with the log's tail; an
exception raised inside ``with site:`` gets the tail as a note. ``stop()``
then ``start()`` runs it again on the same port, appending to the same log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import httpx

from .polling import NotYet, eventually

ROOT = Path(__file__).resolve().parents[2]

# What every site runs with unless told otherwise (gunicorn setting names).
GUNICORN_DEFAULTS: dict[str, object] = {
    "workers": 1,
    "loglevel": "warning",
    "errorlog": "-",
    "accesslog": None,
    "graceful_timeout": 3,
    "control_socket_disable": True,
}
# What every uvicorn site runs with unless told otherwise (its option names).
UVICORN_DEFAULTS: dict[str, object] = {
    "log-level": "warning",
    "no-access-log": True,
    "timeout-graceful-shutdown": 3,
}
LOG_TAIL = 60  # lines of log quoted in errors and notes


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now (nothing stops another process taking it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SiteProcess:
    """One Django site under gunicorn on 127.0.0.1: start, wait until it answers, stop, log.

    app is the WSGI application ("module:name"), settings its
    DJANGO_SETTINGS_MODULE, ready the path that answers 200 once the site
    serves, env extra environment variables, gunicorn settings by name over
    GUNICORN_DEFAULTS. workdir holds the config and the log; by default a
    temporary directory that close() removes.
    """

    def __init__(
        self,
        name: str,
        *,
        app: str,
        settings: str,
        ready: str = "/",
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        gunicorn: Mapping[str, object] | None = None,
        workdir: Path | None = None,
        server: Literal["gunicorn", "uvicorn"] = "gunicorn",
        uvicorn: Mapping[str, object] | None = None,
    ) -> None:
        self.name = name
        self.app = app
        self.settings = settings
        self.ready = ready
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.gunicorn = {**GUNICORN_DEFAULTS, **(gunicorn or {})}
        self.server = server
        self.uvicorn = {**UVICORN_DEFAULTS, **(uvicorn or {})}
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"berrymq-{name}-"))
        self.log_path = self.workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        # No keep-alive: an idle connection of ours would hold up a graceful stop.
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=30.0,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The gunicorn master's (or uvicorn's) pid while the site runs, else None."""
        return None if self.process is None else self.process.pid

    def environ(self) -> dict[str, str]:
        """Return the environment the site runs with (also right for manage.py on its settings)."""
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings,
            "PYTHONPATH": path,
            **self.extra_env,
        }

    def start(self, timeout: float = 30.0, *, probe: bool = True) -> Self:
        """Start gunicorn; return once GET ready answers 200 (RuntimeError if it never does).

        With probe False, return at once without a request: for a test that must
        see what the site does before anyone calls it.
        """
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"site {self.name} is already running (pid {self.process.pid})")
        command = self._command()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.environ(), stdout=log, stderr=subprocess.STDOUT
            )
        if not probe:
            return self
        try:
            eventually(
                self._answers,
                timeout=timeout,
                interval=0.05,
                ignore=(httpx.TransportError,),
                what=f"site {self.name} to answer GET {self.ready} on port {self.port}",
            )
        except NotYet as exc:
            self.stop(graceful=False)
            raise RuntimeError(f"{exc}\n{self.log(LOG_TAIL)}") from None
        return self

    def _command(self) -> list[str]:
        if self.server == "uvicorn":
            options = {"host": "127.0.0.1", "port": self.port, **self.uvicorn}
            flags = [
                f"--{key}" if value is True else f"--{key}={value}"
                for key, value in options.items()
                if value is not False and value is not None
            ]
            return [sys.executable, "-m", "uvicorn", *flags, self.app]
        config = self.workdir / f"{self.name}.gunicorn.conf.py"
        settings = {"bind": f"127.0.0.1:{self.port}", **self.gunicorn}
        config.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))
        return [sys.executable, "-m", "gunicorn", "--config", str(config), self.app]

    def _answers(self) -> bool:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"site {self.name} exited with {code}:\n{self.log(LOG_TAIL)}")
        return self.http.get(self.ready, timeout=1.0).status_code == 200

    def stop(self, timeout: float = 10.0, *, graceful: bool = True) -> None:
        """Stop the site: gracefully (SIGTERM: requests in progress are answered) or at
        once (SIGQUIT); kill it when it has not exited after timeout seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            # uvicorn has no "stop at once" signal of its own: it is killed.
            at_once = signal.SIGKILL if self.server == "uvicorn" else signal.SIGQUIT
            self.process.send_signal(signal.SIGTERM if graceful else at_once)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, timeout: float = 30.0) -> Self:
        """Stop gracefully and start again on the same port."""
        self.stop()
        return self.start(timeout)

    def close(self, *, show_log: bool = False) -> None:
        """Stop at once, close the client, and remove the working directory if it is ours.

        show_log first prints the log's tail: pytest shows it for a failed test only.
        """
        if show_log:
            print(f"--- log of site {self.name} ({self.base_url}) ---\n{self.log(LOG_TAIL)}")
        self.stop(graceful=False)
        self.http.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self, lines: int | None = None) -> str:
        """Return what the site wrote (its last lines only, when given), "" before any."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if lines is None else "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            exc.add_note(f"--- log of site {self.name} ({self.base_url}) ---\n{self.log(LOG_TAIL)}")
        self.close()
