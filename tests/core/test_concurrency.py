"""Sending from many threads while others subscribe, unsubscribe and open/close queues."""

from __future__ import annotations

import threading

from berrymq_django import (
    Empty,
    FollowerMixin,
    Queue,
    default_dispatcher,
    following,
    register_function,
    set_multiplicity,
    twitter,
    unregister,
)

from . import Recorder

SENDERS = 8
PER_SENDER = 2_000
JOIN_TIMEOUT = 120.0


class ShortLived(FollowerMixin):
    @following("load:*")
    def on_load(self, message):
        pass


def run_threads(targets, stop):
    """Start one daemon thread per target; return the threads and a list collecting their errors."""
    errors = []

    def guarded(target):
        def run():
            try:
                target()
            except BaseException as exc:  # reported by the test, not by pytest's thread hook
                errors.append(exc)
                stop.set()

        return run

    threads = [threading.Thread(target=guarded(t), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    return threads, errors


def test_concurrent_senders_and_churn_lose_nothing_and_do_not_deadlock():
    stable = Recorder()
    register_function("load:tick", stable.fn)
    stable_queue = Queue("load")
    errors_before = default_dispatcher.error_count

    stop = threading.Event()
    churned = {"functions": 0, "queues": 0, "instances": 0}

    def sender():
        start.wait()
        for i in range(PER_SENDER):
            twitter("load:tick", i)

    def function_churn():
        start.wait()
        while not stop.is_set():
            churn = Recorder()
            register_function("load:tick", churn.fn)
            register_function("load", churn.fn)
            unregister(churn.fn)
            churned["functions"] += 1

    def queue_churn():
        start.wait()
        while not stop.is_set():
            q = Queue("load:tick", maxsize=10)
            shared = Queue("load:tick", shared=True)
            q.close()
            shared.close()
            churned["queues"] += 1

    def instance_churn():
        start.wait()
        while not stop.is_set():
            ShortLived()
            churned["instances"] += 1

    churners = [function_churn, function_churn, queue_churn, instance_churn]
    start = threading.Barrier(SENDERS + len(churners), timeout=JOIN_TIMEOUT)
    senders, sender_errors = run_threads([sender] * SENDERS, stop)
    others, churn_errors = run_threads(churners, stop)
    for thread in senders:
        thread.join(JOIN_TIMEOUT)
    stop.set()
    for thread in others:
        thread.join(JOIN_TIMEOUT)

    assert not [t for t in senders + others if t.is_alive()], "deadlock: threads still running"
    assert sender_errors + churn_errors == []
    assert all(churned.values()), f"churn did not overlap the senders: {churned}"
    assert default_dispatcher.error_count == errors_before

    total = SENDERS * PER_SENDER
    assert stable.count == total
    assert len({m.uid for m in stable.messages}) == total

    drained = 0
    while True:
        try:
            stable_queue.get_nowait()
        except Empty:
            break
        drained += 1
    assert drained == total


def test_changing_multiplicity_while_others_twitter_loses_nothing():
    stable = Recorder()
    register_function("load:tick", stable.fn)
    stop = threading.Event()

    def sender():
        for i in range(PER_SENDER):
            twitter("load:tick", i)

    def toggler():
        while not stop.is_set():
            set_multiplicity(2)
            set_multiplicity(0)

    togglers, toggle_errors = run_threads([toggler], stop)
    senders, sender_errors = run_threads([sender] * 4, stop)
    try:
        for thread in senders:
            thread.join(JOIN_TIMEOUT)
    finally:
        stop.set()
        for thread in togglers:
            thread.join(JOIN_TIMEOUT)
        set_multiplicity(0)  # waits for deliveries still queued

    assert not [t for t in senders + togglers if t.is_alive()], "deadlock: threads still running"
    assert sender_errors + toggle_errors == []
    assert stable.count == 4 * PER_SENDER
