"""Delivery: the one rule by which a dispatcher delivers to a subscription and counts it.

``Delivery`` is the half of the Dispatcher that runs followers (the other
halves: ``Registrations``, who follows what; ``Dispatcher``, the ways in).
Every path ends here::

    _run / _arun / _answer / _call -> _attempt (or _aattempt): deliver, count, time
                                      a raise -> _failed: count, describe, re-raise or log

twitter() inlines _run and _attempt for speed; keep the copies in step.

The figures (core/figures.py) are updated here without a lock: a lost
increment under a race between threads is accepted (see that module).
"""

from __future__ import annotations

import logging
from time import perf_counter, time
from typing import Any

from asgiref.sync import sync_to_async

from .figures import BusFigures
from .message import Message
from .registrations import Registrations
from .subscription import SKIPPED, Route, Subscription

__all__ = ["Delivery"]

logger = logging.getLogger("berrymq")


class Delivery(Registrations):
    """Deliver to subscriptions under the one rule, counting each delivery in the figures."""

    # Set by the Dispatcher's __init__.
    figures: BusFigures
    follower_timing: bool
    raise_errors: bool
    error_count: int

    def twitter(self, identifier: str, /, *args: Any, **kwargs: Any) -> Message:
        """Send a message (the Dispatcher's); talk() replies go out through it."""
        raise NotImplementedError

    def _count_sent(self, now: float) -> None:
        """Count one message sent at Unix time now (its timestamp, when made here)."""
        figures = self.figures
        if now >= figures.minute_end:
            figures.roll(now)
        figures.sent += 1

    def _roll(self, now: float) -> None:
        """Start a new minute of the figures if now (Unix time) is past the current one."""
        if now >= self.figures.minute_end:
            self.figures.roll(now)

    def _attempt(self, sub: Subscription, message: Message) -> Any:
        """Deliver to one subscription and count it; return its result or SKIPPED.

        The follower's exception propagates (after its time is counted): the
        caller hands it to ``_failed``, the one error rule, which counts it.
        """
        counts = sub.figures
        if self.follower_timing:
            start = perf_counter()
            try:
                result = sub.deliver(message)
            finally:
                counts.seconds += perf_counter() - start
        else:
            result = sub.deliver(message)
        if result is not SKIPPED:
            counts.delivered += 1
            self.figures.delivered += 1
        return result

    async def _aattempt(self, sub: Subscription, message: Message) -> Any:
        """_attempt for an async follower, awaited (its time includes its awaits)."""
        counts = sub.figures
        start = perf_counter() if self.follower_timing else 0.0
        try:
            result = await sub.adeliver(message)
        finally:
            if start:
                counts.seconds += perf_counter() - start
        if result is not SKIPPED:
            counts.delivered += 1
            self.figures.delivered += 1
        return result

    def _run(self, route: Route, message: Message, waiting: bool) -> None:
        """Deliver to every subscription of route, containing each failure."""
        for sub in route.subscriptions:
            try:
                self._attempt(sub, message)
            except Exception as exc:
                self._failed(sub, message, exc, waiting)

    async def _arun(self, route: Route, message: Message) -> None:
        """_run for async senders: async followers awaited, sync ones batched in a thread."""
        batch: list[Subscription] = []
        for sub in route.subscriptions:
            if sub.kind == "queue":
                self._call(sub, message, True)  # never blocks
            elif not sub.is_async:
                batch.append(sub)
            else:
                if batch:
                    await sync_to_async(self._run_batch)(batch, message)
                    batch = []
                try:
                    await self._aattempt(sub, message)
                except Exception as exc:
                    self._failed(sub, message, exc, True)
        if batch:
            await sync_to_async(self._run_batch)(batch, message)

    def _run_batch(self, batch: list[Subscription], message: Message) -> None:
        for sub in batch:
            self._call(sub, message, True)

    def _call(self, sub: Subscription, message: Message, waiting: bool) -> Any:
        """Deliver to one subscription; return its result, or SKIPPED on failure."""
        try:
            return self._attempt(sub, message)
        except Exception as exc:
            self._failed(sub, message, exc, waiting)
            return SKIPPED

    def _answer(self, route: Route, message: Message, *, waiting: bool) -> list[Any]:
        """Call the followers of a talk() request; send and return their results."""
        results = []
        for sub in route.subscriptions:
            result = self._call(sub, message, waiting)
            if sub.kind != "queue" and result is not SKIPPED:
                results.append(result)
        assert message.reply_to is not None
        for result in results:
            self.twitter(message.reply_to, result, in_reply_to=message.uid)
        return results

    def _failed(self, sub: Subscription, message: Message, exc: Exception, waiting: bool) -> None:
        """The one error rule: count and describe; re-raise to a waiting sender, if asked.

        Otherwise log it and count it in ``error_count`` too.
        """
        now = time()
        self._roll(now)
        self.figures.errors += 1
        sub.figures.record_error(exc, now)
        if self.raise_errors and waiting:
            raise exc
        self.error_count += 1
        logger.error(
            "berryMQ follower %s raised on message %r", sub.label, message.id, exc_info=exc
        )
