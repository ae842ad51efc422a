"""The calling site of ``--peer``: a small JSON-RPC server playing an interconnected peer.

It answers what an endpoint calls back on an interconnect
(docs/protocol.rst, "What a peer answers"): ``status`` with its node name,
and ``send_messages`` with ``{"accepted", "duplicates"}``, deduplicating by
uid, for callers presenting its token as ``Authorization: Bearer``. It
records every call, so the peer rules can check what came and how, and it
can refuse the next batch with HTTP 503 (``fail_next``) to see the
endpoint retry. http.server in a thread: no framework, nothing to install.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from ..rpc.protocol import INVALID_TOKEN, METHOD_NOT_FOUND, UNAUTHENTICATED

__all__ = ["Call", "CallbackSite"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call the endpoint made: method, params, Authorization header, and our HTTP status."""

    method: str
    params: Any
    authorization: str
    status: int


class CallbackSite:
    """Serve a peer's side of an interconnect on host:port (0: a free port) until close().

    ``url`` is where the endpoint calls back (``advertise`` overrides it when
    the endpoint reaches this machine by another name). ``token`` is what
    it must present; ``node`` the name ``status`` answers.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, advertise: str | None = None
    ) -> None:
        self.token = "conformance-" + secrets.token_urlsafe(24)
        self.node = f"conformance-peer-{secrets.token_hex(4)}"
        self.calls: list[Call] = []
        self.messages: list[dict[str, Any]] = []  # accepted, in order
        self.fail_next = False  # answer the next non-empty send_messages with HTTP 503
        self._uids: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.url = advertise or f"http://{host}:{self._server.server_port}/berrymq/rpc/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="conformance-callback", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> tuple[list[Call], list[dict[str, Any]]]:
        """Return copies of the calls and the accepted messages so far."""
        with self._lock:
            return list(self.calls), list(self.messages)

    def answer(self, request: Any, authorization: str) -> tuple[int, Any]:
        """Answer one request object: (HTTP status, response or None for a notification)."""
        method = request.get("method") if isinstance(request, dict) else None
        params = request.get("params", []) if isinstance(request, dict) else []
        request_id = request.get("id") if isinstance(request, dict) else None
        status, outcome = self._run(str(method), params, authorization)
        with self._lock:
            self.calls.append(Call(str(method), params, authorization, status))
        if isinstance(request, dict) and "id" not in request:
            return status, None
        key = "error" if isinstance(outcome, dict) and "code" in outcome else "result"
        return status, {"jsonrpc": "2.0", key: outcome, "id": request_id}

    def _run(self, method: str, params: Any, authorization: str) -> tuple[int, Any]:
        if authorization != f"Bearer {self.token}":
            return 401, {"code": UNAUTHENTICATED, "message": "Invalid API key."}
        if method == "status":
            return 200, {"node": self.node}
        if method != "send_messages":
            return 200, {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method!r}."}
        if isinstance(params, dict):
            token, messages = params.get("token"), params.get("messages")
        elif isinstance(params, list):
            token, messages = [*params, None, None][:2]
        else:
            token = messages = None
        if token != self.token:
            return 200, {"code": INVALID_TOKEN, "message": "invalid token"}
        messages = messages if isinstance(messages, list) else []
        with self._lock:
            if messages and self.fail_next:
                self.fail_next = False
                return 503, {"code": -32005, "message": "Service unavailable; try again later."}
            accepted = 0
            for message in messages:
                uid = message.get("uid") if isinstance(message, dict) else None
                if isinstance(uid, str) and uid in self._uids:
                    continue
                if isinstance(uid, str):
                    self._uids.add(uid)
                self.messages.append(message)
                accepted += 1
        return 200, {"accepted": accepted, "duplicates": len(messages) - accepted}


def _handler(site: CallbackSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = orjson.loads(self.rfile.read(length))
            except orjson.JSONDecodeError:
                self._send(200, {"jsonrpc": "2.0", "id": None,
                                 "error": {"code": -32700, "message": "Parse error."}})  # fmt: skip
                return
            authorization = self.headers.get("Authorization") or ""
            if isinstance(body, list):
                answers = [site.answer(item, authorization) for item in body]
                status = max(code for code, _ in answers) if answers else 200
                replies = [reply for _, reply in answers if reply is not None]
                self._send(status, replies or None)
            else:
                status, reply = site.answer(body, authorization)
                self._send(status, reply)

        def _send(self, status: int, payload: Any) -> None:
            body = b"" if payload is None else orjson.dumps(payload)
            self.send_response(204 if payload is None and status == 200 else status)
            if status == 503:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the report says what matters; no access log on the console

    return Handler
