"""The Django site that the ``peering`` case runs twice (sites A and B) under gunicorn.

Configured by environment variables (see settings.py). Site A twitters from
inside its own process (``POST /send/``), so what is timed is twitter() to
the peer's follower, not the driver's HTTP calls; site B's follower
(receivers.py) checks order and counts, and ``GET /stats/`` reports it.
"""

# The pattern the bench follower follows and the identifier site A twitters.
IDENTIFIER = "bench:peer"
