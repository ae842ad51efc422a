"""Run by test_faults.py in a site's environment: a link started in a parent, then fork().

The parent sends (its link's thread runs), forks, and sends again; the
child, whose copy of the link inherits no running thread, sends too: its
link must start afresh (nothing of the parent's sent or buffered) and
deliver. Prints a JSON report on stdout.
"""

from __future__ import annotations

import json
import os

import django

django.setup()

from berrymq_django import twitter  # noqa: E402
from berrymq_django.peering import peers  # noqa: E402
from berrymq_django.rpc.peers import PeerLink  # noqa: E402
from tests.support import eventually  # noqa: E402


def wait_sent(link: PeerLink, n: int, timeout: float = 10.0) -> int:
    return eventually(lambda: link.sent, until=lambda sent: sent >= n, timeout=timeout)


def main() -> None:
    (link,) = peers().links()
    twitter("fork:parent", 0)
    started = wait_sent(link, 1)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            figures = link.status()
            fresh = figures["sent"] == 0 and figures["buffered"] == 0
            twitter("fork:child", os.getpid())
            code = 0 if fresh and wait_sent(link, 1) == 1 else 2
        finally:
            os._exit(code)
    twitter("fork:parent", 1)
    _, status = os.waitpid(pid, 0)
    report = {
        "parent_sent_before_fork": started,
        "parent_sent": wait_sent(link, 2),
        "child_pid": pid,
        "child_exit": os.waitstatus_to_exitcode(status),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
