"""Benchmarks for berrymq_django: ``python -m bench`` (or ``make bench``).

Four cases, each timed side by side with its anchor in one run:

1. ``dispatch``  twitter() to one follower vs django Signal.send (target <= 0.5x);
   blinker and a direct call shown for context.
2. ``routing``   twitter() to one follower among 10,000 others vs alone (<= 1.2x).
3. ``queue``     twitter() + Queue.get_nowait() vs queue.Queue put + get (<= 1.5x).
4. ``memory``    bytes per message held by a Queue of 1,000,000 (<= 250 B).

Options: ``--quick`` (few iterations, for the smoke test), ``--json``,
``--only CASE[,CASE]``, ``--rounds N``, ``--strict`` (exit 1 on a MISS).
"""
