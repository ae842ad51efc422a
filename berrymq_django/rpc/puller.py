"""A peer link of style "queue" (berryMQ's style 03): pull the peer's queue, send here.

The link opens ``connect_via_queue`` on the peer, then long-polls ``get``
(``POLL_SECONDS`` at a time) and sends each message it gets to this site's
dispatcher, keeping its uid, unless it started at this site (the peer's
queue collected it from us): a site never delivers its own message twice.
Its uid is remembered for PULL_DEDUP_SECONDS, so one reaching this site by
two paths is sent here once. A ``get`` pops the message on the peer: a
message whose answer is lost on the way is lost (at most once). It relays
nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.message import Message
from .client import PeerError, RemoteError
from .link import BaseLink

__all__ = ["PULL_DEDUP_SECONDS", "QueueLink"]

logger = logging.getLogger("berrymq.peers")

#: How long a pulled message's uid is remembered, so a redelivery is not sent twice.
PULL_DEDUP_SECONDS = 600.0


class QueueLink(BaseLink):
    """Pull one queue of one peer by long poll."""

    # A puller has nothing to flush, and may sit in a long poll: stop does not wait.
    waits_at_stop = False

    def _run(self) -> None:
        if self._stopping.is_set():
            return
        attempt = 0
        poll = self.config.poll_seconds
        while not self._stopping.is_set():
            try:
                if self.token is None:
                    self._connect()
                data = self.client.call("get", self.token, True, poll, timeout=poll + 10)
                self._receive(data)
                attempt = 0
            except RemoteError as exc:
                if exc.timeout:  # nothing came within the poll: the queue is fine
                    self._token_worked = True
                    self._succeeded(timed=False)
                    attempt = 0
                    continue
                if self._handle(exc) == "resend":
                    continue
                attempt += 1
                self.retried += 1
                self._backoff(attempt)
            except (PeerError, OSError) as exc:
                self._failed(exc)
                attempt += 1
                self.retried += 1
                self._backoff(attempt)
            except Exception as exc:  # a bug must not silently end the link
                logger.exception("berryMQ peer %s: the puller failed", self.config.name)
                self._failed(exc)
                attempt += 1
                self._backoff(attempt)

    def _receive(self, data: Any) -> None:
        self._token_worked = True
        self._succeeded(timed=False)
        try:
            message = Message.from_dict(data)
        except (TypeError, ValueError) as exc:
            with self._drop_lock:
                self.dropped += 1
            logger.error("berryMQ peer %s sent a malformed message: %s", self.config.name, exc)
            return
        if message.origin == self.dispatcher.node_name:
            return  # it started here and went round through the peer: delivered here already
        if self.state.accept_uid(message.uid, PULL_DEDUP_SECONDS):
            self.dispatcher.send(message)
            self.sent += 1
