"""What the test folders (and bench/) share: one way to wait, one way to run a site.

    from tests.support import eventually, free_port, SiteProcess

``eventually(probe, until=...)`` polls against a deadline instead of sleeping;
``free_port()`` finds a loopback port; ``complete_lines(path)`` reads a
file another process is still appending to; ``SiteProcess`` runs a real Django
site under gunicorn, waits until it answers, stops it and keeps its log.
None of it needs pytest, so the benchmarks import it as well.
"""

from __future__ import annotations

from .journal import complete_lines
from .polling import NotYet, eventually
from .sites import SiteProcess, free_port

__all__ = ["NotYet", "SiteProcess", "complete_lines", "eventually", "free_port"]
