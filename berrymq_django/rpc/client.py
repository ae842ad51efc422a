"""An outbound JSON-RPC client for berryMQ endpoints, over httpx with keep-alive.

    client = RPCClient("http://127.0.0.1:8002/berrymq/rpc/", api_key="...")
    token = client.call("connect_oneway", 600)
    client.call("send_messages", token, [message.to_dict()])

Errors, small enough to draw:

    PeerError
     ├── PeerUnavailable   connection refused, timeout, 5xx, garbage: worth retrying
     └── RemoteError       the peer answered with a JSON-RPC error (code, message)
          └── Unauthorized the peer refused our key (HTTP 401/403)
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx
import orjson

from .protocol import INVALID_TOKEN, TIMEOUT

__all__ = ["PeerError", "PeerUnavailable", "RPCClient", "RemoteError", "Unauthorized"]


class PeerError(Exception):
    """Talking to a peer failed."""


class PeerUnavailable(PeerError):
    """The peer could not be reached or gave no usable answer; retrying may help."""


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


class RPCClient:
    """Call one JSON-RPC endpoint; thread-safe, one pooled keep-alive connection set."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """Call method with positional params; return its result or raise a PeerError."""
        with self._lock:
            request_id = next(self._ids)
        body = orjson.dumps(
            {"jsonrpc": "2.0", "method": method, "params": list(params), "id": request_id},
            default=str,
        )
        extra = {} if timeout is None else {"timeout": timeout}
        try:
            response = self._http.post(self.url, content=body, **extra)
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise PeerUnavailable(f"{self.url}: HTTP {response.status_code}")
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise PeerUnavailable(
                f"{self.url}: HTTP {response.status_code} with a body that is not JSON"
            ) from None
        if not isinstance(answer, dict):
            raise PeerUnavailable(f"{self.url}: an answer that is not a JSON-RPC response")
        error = answer.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise PeerUnavailable(f"{self.url}: a malformed JSON-RPC error {error!r}")
            cls = Unauthorized if response.status_code in (401, 403) else RemoteError
            raise cls(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        if response.status_code != 200 or "result" not in answer:
            raise PeerUnavailable(f"{self.url}: HTTP {response.status_code} without a result")
        return answer["result"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RPCClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
