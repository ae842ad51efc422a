"""HTTP calls with a deadline: no call outlasts its timeout, however slowly the peer answers.

httpx's timeouts bound each network operation, not the call: a peer that
sends a few bytes every 0.4 s never lets a 1 s read timeout fire, and one
call can take minutes. ``DeadlineTransport`` runs httpcore's connection
pool on a network backend whose every connect, read and write waits at
most until the call's deadline, so the timeout bounds the whole call:
connecting, sending, the status line, the headers and the body.

The deadline travels with the request as the extension ``DEADLINE``
(``time.monotonic()`` seconds); ``RPCClient`` sets it from each call's
timeout. A request without it is bounded by httpx's per-operation timeouts
only. Everything happens in the calling thread, so the deadline is kept in
a context variable for the calls below it.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["DEADLINE", "DeadlineTransport"]

#: The request extension holding the call's deadline, in time.monotonic() seconds.
DEADLINE = "berrymq.deadline"

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "berrymq_deadline", default=None
)

# httpcore's errors as httpx names them (the most specific first).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """Return timeout capped by what is left of the call; raise error once nothing is."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every wait ends by the call's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own sync backend, with every connection bounded by the call's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        wait = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.BaseTransport):
    """An HTTP/1.1 transport on which a request's ``DEADLINE`` extension bounds the whole call.

    The response body is read before the transport returns (a JSON-RPC
    answer is small), so the deadline covers it too. Errors are httpx's.
    """

    def __init__(self, *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        token = _deadline.set(request.extensions.get(DEADLINE))
        try:
            with _as_httpx_errors(request):
                response = self._pool.handle_request(core_request)
                try:
                    content = response.read()
                finally:
                    response.close()
        finally:
            _deadline.reset(token)
        return httpx.Response(
            response.status,
            headers=response.headers,
            content=content,
            extensions={
                key: response.extensions[key]
                for key in ("http_version", "reason_phrase")
                if key in response.extensions
            },
        )

    def close(self) -> None:
        self._pool.close()


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in _ERRORS:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc) or type(exc).__name__, request=request) from exc
        raise
