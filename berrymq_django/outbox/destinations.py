"""Where the relay sends outbox rows: a peer site, or the backend; each says what it took.

``send(rows)`` returns an ``Outcome``: the rows the destination acknowledged
(a peer answered ``send_messages``; the backend confirmed the write), the
rows it refused for good (dead letters, with the error), and the error that
stopped it before the rest (they stay pending and are sent again later).

A peer destination talks to the peer itself, on a connection of its own
(``connect_oneway`` with the peer's API key; a call-back link's token for
the far end of someone's interconnect), in batches of at most BATCH,
following the peer links' retry rules (rpc/retry.py): a batch too large is
halved, a message the peer refuses (invalid params) becomes a dead letter
alone and the rest go on.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import orjson

from ..core.message import Message
from ..rpc.client import PeerError, RPCClient
from ..rpc.retry import decide

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..rpc.link import BaseLink
    from .store import Claimed

__all__ = ["BackendDestination", "Outcome", "PeerDestination"]

logger = logging.getLogger("berrymq.outbox")

#: Seconds the backend may take to confirm a batch before the relay tries again later.
BACKEND_CONFIRM_SECONDS = 5.0


@dataclasses.dataclass
class Outcome:
    """What a destination did with rows: ids done, (id, error) dead, the error that stopped it."""

    done: list[int] = dataclasses.field(default_factory=list)
    dead: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    error: str | None = None
    #: Messages the destination said it had already (sent again after a crash).
    duplicates: int = 0


class PeerDestination:
    """Send rows to one peer (a link of the registry, by name) and report what it took."""

    def __init__(self, link: BaseLink, batch: int) -> None:
        self.link = link
        self.batch = batch
        self._client: RPCClient | None = None
        self._credential: str | None = None
        self._token: str | None = None
        self._token_worked = False

    def close(self) -> None:
        """Close the HTTP client (the peer's connection expires by itself)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _session(self) -> tuple[RPCClient, str]:
        config = self.link.config
        callback = config.style == "callback"
        credential = config.token if callback else config.api_key
        if self._client is None or credential != self._credential:
            self.close()
            self._client = RPCClient(config.url, credential, timeout=config.timeout)
            self._credential = credential
            self._token = config.token if callback else None
            self._token_worked = False
        if self._token is None:
            self._token = self._client.call("connect_oneway", config.ttl)
            self._token_worked = False
        assert self._token is not None
        return self._client, self._token

    def send(self, rows: list[Claimed]) -> Outcome:
        """Send rows in order, in batches; return what the peer took and refused."""
        outcome = Outcome()
        limit = self.batch
        pending = list(rows)
        callback = self.link.config.style == "callback"
        while pending:
            batch = pending[:limit]
            try:
                client, token = self._session()
                payload = [orjson.Fragment(row.payload) for row in batch]
                answer = client.call("send_messages", token, payload)
            except PeerError as exc:
                decision = decide(
                    exc,
                    callback=callback,
                    token_worked=self._token_worked,
                    batch=batch,
                    batch_limit=limit,
                )
                if decision.batch_limit is not None:
                    limit = decision.batch_limit
                if decision.requeue:
                    limit = max(1, len(batch) - len(decision.requeue))
                for row in decision.refused:
                    outcome.dead.append((row.id, str(exc)))
                    pending.remove(row)
                if decision.action in ("reconnect", "reconnect_now"):
                    self._token = None
                if decision.action in ("resend", "reconnect_now"):
                    continue
                outcome.error = f"{type(exc).__name__}: {exc}"
                return outcome
            except OSError as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                return outcome
            self._token_worked = True
            if isinstance(answer, dict) and isinstance(answer.get("duplicates"), int):
                outcome.duplicates += answer["duplicates"]
            outcome.done.extend(row.id for row in batch)
            del pending[: len(batch)]
        return outcome


class BackendDestination:
    """Publish rows on the dispatcher's backend and wait until it confirms the write."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        # Rows published and not confirmed yet: not published twice while they wait.
        self._published: set[int] = set()

    def close(self) -> None:
        """Nothing to release: the backend is the dispatcher's."""

    def send(self, rows: list[Claimed]) -> Outcome:
        """Publish rows not published yet, then wait for the backend's confirmation."""
        backend = self.dispatcher.backend
        outcome = Outcome()
        for row in rows:
            if row.id in self._published:
                continue
            try:
                message = Message.from_dict(orjson.loads(row.payload))
            except (TypeError, ValueError) as exc:
                outcome.dead.append((row.id, f"not a message: {exc}"))
                continue
            backend.publish(message)
            self._published.add(row.id)
        flush: Any = getattr(backend, "flush", None)
        if flush is not None and not flush(BACKEND_CONFIRM_SECONDS):
            outcome.error = "the backend has not confirmed the write yet"
            return outcome
        dead = {row_id for row_id, _ in outcome.dead}
        outcome.done = [row.id for row in rows if row.id not in dead]
        self._published.difference_update(outcome.done)
        return outcome
