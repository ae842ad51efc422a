"""Outbound JSON-RPC: a client for berryMQ endpoints over httpx, and remote queues.

    client = RPCClient("http://127.0.0.1:8002/berrymq/rpc/", api_key="...")
    token = client.call("connect_oneway", 600)
    client.call("send_messages", token, [message.to_dict()])

    with RemoteQueue(url, "task:*", api_key="...") as tasks:   # berryMQ's style 03
        message = tasks.get(timeout=30)

A call's timeout bounds the whole call, however slowly the site answers
(``deadline.DeadlineTransport``), unless another transport is passed in.

Errors, small enough to draw:

    PeerError
     ├── PeerUnavailable   connection refused, timeout, 5xx, 429, garbage: worth retrying
     └── RemoteError       the peer answered with a JSON-RPC error (code, message)
          └── Unauthorized the peer refused our key (HTTP 401/403)
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from ..core.identifier import parse_identifier
from ..core.message import Message
from ..core.store import Empty
from .deadline import DEADLINE, DeadlineTransport
from .protocol import INVALID_TOKEN, TIMEOUT
from .urls import shown_url, url_problem

__all__ = [
    "DEFAULT_TIMEOUT",
    "PeerError",
    "PeerUnavailable",
    "RPCClient",
    "RemoteError",
    "RemoteQueue",
    "Unauthorized",
    "header_safe",
    "shown_url",
]


class PeerError(Exception):
    """Talking to a peer failed."""


class PeerUnavailable(PeerError):
    """The peer could not be reached or gave no usable answer; retrying may help.

    ``status`` is the HTTP status of an answer that was no JSON-RPC answer (a 404
    from a wrong path, a 502 from a proxy...), None when no answer came at all.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteError(PeerError):
    """The peer answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    @property
    def invalid_token(self) -> bool:
        return self.code == INVALID_TOKEN

    @property
    def timeout(self) -> bool:
        return self.code == TIMEOUT


class Unauthorized(RemoteError):
    """The peer refused our credentials."""


#: Seconds one exchange with a site may take, unless the caller says otherwise.
DEFAULT_TIMEOUT = 10.0


def header_safe(key: str) -> bool:
    """Return whether key can travel in an Authorization header: printable ASCII, no spaces."""
    return key.isascii() and key.isprintable() and " " not in key


class RPCClient:
    """Call one JSON-RPC endpoint; thread-safe, one pooled keep-alive connection set.

    ``timeout`` (seconds) bounds each call from start to end: connecting,
    sending and reading the whole answer. ``transport`` replaces the HTTP
    transport (``httpx.MockTransport`` in tests); the default one enforces
    the timeout as a deadline. A url that is no http(s) address with a host
    raises ValueError naming it (:func:`~berrymq_django.rpc.urls.url_problem`), as
    does an api_key no HTTP header can carry (the key itself is never shown).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        problem = url_problem(url)
        if problem:
            shown = shown_url(url) if isinstance(url, str) else url
            raise ValueError(f"The endpoint URL {shown!r} {problem}.")
        if api_key and not header_safe(api_key):
            raise ValueError("api_key must be printable ASCII without spaces: it goes in a header.")
        self.url = url
        self.timeout = timeout
        self._shown = shown_url(url)  # errors reach logs and status(): never the password
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if transport is None:
            transport = DeadlineTransport()
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        #: Seconds from sending the last request that was answered (any HTTP status) to
        #: its answer; None until one was.
        self.rtt_seconds: float | None = None

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """Call method with positional params; return its result or raise a PeerError.

        ``timeout`` (default: the client's) bounds the whole call. Params
        orjson cannot encode (an int beyond 64 bits, say) raise its
        JSONEncodeError, a TypeError: that is the caller's data, not the peer.
        """
        with self._lock:
            request_id = next(self._ids)
        body = orjson.dumps(
            {"jsonrpc": "2.0", "method": method, "params": list(params), "id": request_id},
            default=str,
        )
        wait = self.timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + wait
        try:
            response = self._http.post(
                self.url, content=body, timeout=wait, extensions={DEADLINE: deadline}
            )
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"{self._shown}: {type(exc).__name__}: {exc}") from exc
        except RuntimeError as exc:  # closed by another thread (a link stopping) meanwhile
            raise PeerUnavailable(f"{self._shown}: {exc}") from exc
        self.rtt_seconds = time.monotonic() - started
        status = response.status_code
        if status >= 500 or status == 429:
            retry = response.headers.get("Retry-After")
            hint = f" (retry after {retry} s)" if retry else ""
            raise PeerUnavailable(f"{self._shown}: HTTP {status}{hint}", status)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise PeerUnavailable(
                f"{self._shown}: HTTP {status} with a body that is not JSON", status
            ) from None
        if not isinstance(answer, dict):
            raise PeerUnavailable(
                f"{self._shown}: an answer that is not a JSON-RPC response", status
            )
        error = answer.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise PeerUnavailable(
                    f"{self._shown}: a malformed JSON-RPC error {error!r}", status
                )
            cls = Unauthorized if status in (401, 403) else RemoteError
            raise cls(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        if status != 200 or "result" not in answer:
            raise PeerUnavailable(f"{self._shown}: HTTP {status} without a result", status)
        return answer["result"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RPCClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RemoteQueue:
    """A queue on another site, pulled over JSON-RPC (berryMQ's style 03).

    Opening it calls ``connect_via_queue`` (so a bad identifier raises
    ValueError before anything is sent, and an unreachable site or a refused
    key raises a PeerError at once); ``close()`` closes it on the site.
    """

    def __init__(
        self,
        url: str,
        identifier: str,
        ttl: float = 1000.0,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        parse_identifier(identifier)
        self.url = url
        self.identifier = identifier
        self.ttl = ttl
        self._client = RPCClient(url, api_key, timeout=timeout)
        self.token: str | None = None
        try:
            self.reconnect()
        except BaseException:
            self._client.close()
            raise

    def reconnect(self) -> None:
        """Open a new queue on the site (after it restarted, say); messages of the old are gone."""
        self.token = self._client.call("connect_via_queue", self.identifier, self.ttl)

    def get(self, block: bool = True, timeout: float | None = None) -> Message:
        """Take the oldest message, waiting up to timeout (the server caps each wait).

        Raise Empty when none came, RemoteError (``invalid_token``) when the
        site forgot the queue, PeerUnavailable when it cannot be reached.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                data = self._client.call(
                    "get",
                    self._token(),
                    block,
                    remaining,
                    timeout=(remaining or 30.0) + self._client.timeout,
                )
                return Message.from_dict(data)
            except RemoteError as exc:
                if not exc.timeout:
                    raise
                if not block or (deadline is not None and time.monotonic() >= deadline):
                    raise Empty from None

    def get_nowait(self) -> Message:
        return self.get(block=False)

    def messages(self, timeout: float | None = None) -> Iterator[Message]:
        """Yield messages as they come, for timeout seconds in all (None: forever).

        When the site forgets the queue (it restarted, or the token expired)
        a new one is opened and pulling goes on.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            try:
                yield self.get(timeout=remaining)
            except Empty:
                return
            except RemoteError as exc:
                if not exc.invalid_token or self.token is None:
                    raise
                self.reconnect()

    def _token(self) -> str:
        if self.token is None:
            raise PeerError(f"the queue connection to {shown_url(self.url)} is closed")
        return self.token

    def close(self) -> None:
        """Close the queue on the server and forget the token."""
        if self.token is not None:
            with contextlib.suppress(PeerError):
                self._client.call("close_connection", self.token, timeout=5.0)
            self.token = None
        self._client.close()

    def __enter__(self) -> RemoteQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
