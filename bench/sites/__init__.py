"""The small Django site that the ``rpc`` case serves under gunicorn.

One process, one sync worker, no database, no middleware: every contender
pays the same fixed cost of Django's request handling, so what differs is the
view. ``urls.py`` lists the endpoints; ``receivers.py`` holds the follower
that counts delivered messages.
"""

# The identifier every benchmarked message carries; receivers.py follows it.
IDENTIFIER = "bench:ping"
