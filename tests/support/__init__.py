"""What the test folders (and bench/) share: one way to wait, one way to run a site.

    from tests.support import eventually, free_port, SiteProcess

``eventually(probe, until=...)`` polls against a deadline instead of sleeping;
``free_port()`` finds a loopback port; ``SiteProcess`` runs a real Django
site under gunicorn, waits until it answers, stops it and keeps its log.
None of it needs pytest, so the benchmarks import it as well.
"""

from __future__ import annotations

from .polling import NotYet, eventually
from .sites import SiteProcess, free_port

__all__ = ["NotYet", "SiteProcess", "eventually", "free_port"]
