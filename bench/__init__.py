"""Benchmarks for berrymq_django: ``python -m bench`` (or ``make bench``).

Each case is timed side by side with its anchor in one run:

1. ``dispatch``  twitter() to one follower vs django Signal.send (target <= 0.5x);
   blinker and a direct call shown for context.
2. ``routing``   twitter() to one follower among 10,000 others vs alone (<= 1.2x).
3. ``queue``     twitter() + Queue.get_nowait() vs queue.Queue put + get (<= 1.5x).
4. ``memory``    bytes per message held by a Queue of 1,000,000 (<= 250 B).
5. ``rpc``       the JSON-RPC endpoint over HTTP against django-modern-rpc, in one
   run: the bench site (bench/sites) under gunicorn with one sync worker on a
   free loopback port, loaded by wrk from another process. send_message must
   reach >= 1.0x modern-rpc's req/s, and send_messages with 100 messages >= 1.0x
   the msg/s of modern-rpc's JSON-RPC batch of 100 send_message calls; a plain
   JsonResponse view and a plain DRF APIView are shown for reference. Every
   contender's answer and the follower's count are checked before timing.
   About 70 s (``--quick``: about 15 s). Needs wrk: ``apt-get install wrk``;
   without it the case is skipped with a note. Run it alone with
   ``python -m bench --only rpc``.

``peering``: two sites (bench/peer_site) under gunicorn on loopback, A
interconnected with B. A's twitter() to B's follower >= 50,000 msg/s with none
lost; median latency at one message per 20 ms <= 10 ms; a 20,000-message stream
through a 5 s stop of B delivered exactly once, in order. Run it alone with
``python -m bench --only peering``; bench/peering.py says how each is measured.

``redis``: twitter() in this process to a follower in another one through the
Redis backend, side by side with raw redis-py pipelined PUBLISH and
channels_redis group_send + receive: >= 50,000 msg/s, >= 75x channels_redis,
>= 0.3x raw PUBLISH, median latency at 500 msg/s <= 5 ms. In the full run only
when a Redis answers at BERRYMQ_BENCH_REDIS_URL (else BERRYMQ_TEST_REDIS_URL,
else redis://127.0.0.1:6379/15); about 25 s (``--quick``: about 5 s). Run it
alone with ``python -m bench --only redis``; bench/redis_throughput.py says how
each is measured.

``groups``: grouped delivery across three worker processes on the Redis
backend (a follower in group "bench" in each, each message run by one of them),
side by side in one run with Celery (Redis broker, ``celery worker -c 3``
prefork, a trivial task): >= 50,000 grouped messages handled per second, >= 10x
Celery's tasks per second, a median latency twitter -> grouped follower <= 2 ms
at 500 msg/s; an ungrouped fan-out to the same three workers is shown for
context. Needs a Redis (as ``redis``) and Celery (the dev extra); about 60 s
(``--quick``: about 15 s). Run it alone with ``python -m bench --only groups``;
bench/groups.py says how each is measured.

Options: ``--quick`` (few iterations, for the smoke test), ``--json``,
``--only CASE[,CASE]``, ``--rounds N``, ``--strict`` (exit 1 on a MISS).
"""
