"""The staff dashboard: the bus of a running site, seen from the browser.

Pages (under ``berrymq/dashboard/``, staff only, in the admin's look):
overview, followers, queues and connections, peers, dead letters, network
and a live tail. They read what the dispatcher, the backend, the connection
state and the peer links already report; the actions (close a connection,
retry or purge dead letters) are POSTs with CSRF. The live tail pulls from a
queue connection over the site's own JSON-RPC endpoint, with the staff
session, from a little plain JavaScript shipped as a static file.

Modules: ``access`` (who may see it), ``report`` (what the pages show), ``attention``
(what the overview asks a staff member to look at),
``pictures`` (the chart and the network as SVG geometry), ``views``, ``urls``.
"""

from __future__ import annotations

import time

#: When this process set the dashboard up (at Django's setup, see admin.py): uptime counts from it.
STARTED_AT = time.time()
