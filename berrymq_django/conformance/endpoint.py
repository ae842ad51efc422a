"""The endpoint under test, as a conformance rule sees it: raw HTTP answers, read strictly.

Rules need what a client library hides (the HTTP status, an answer that is
no JSON at all), so ``Endpoint.post`` returns the whole ``Answer`` and
never raises for what the endpoint said; ``call`` and ``error`` add the
JSON-RPC 2.0 reading on top and raise ``Failure`` naming what was wrong.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import httpx
import orjson

from .check import Failure, short

__all__ = ["Answer", "Endpoint", "key_refused"]

JSON = "application/json"


@dataclasses.dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers, raw body, and the body parsed (None: not JSON)."""

    status: int
    headers: httpx.Headers
    body: bytes
    json: Any

    def describe(self) -> str:
        """Return the answer in a few words, for a FAIL reason."""
        return f"HTTP {self.status} {short(self.body.decode('utf-8', 'replace'), 100)}"


class Endpoint:
    """POST JSON-RPC bodies to url, with ``Authorization: Bearer api_key`` unless told not to.

    ``timeout`` bounds each exchange, in seconds (a long poll adds its own wait).
    """

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 10.0) -> None:
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._http.close()

    def post(
        self,
        body: bytes | Any,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        wait: float = 0.0,
    ) -> Answer:
        """POST body (bytes as they are, anything else as JSON); return the answer.

        Raise Failure only when no answer came (refused, timed out).
        """
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        sent = {"Content-Type": JSON}
        if auth and self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        sent.update(headers or {})
        try:
            response = self._http.post(
                self.url, content=content, headers=sent, timeout=self.timeout + wait
            )
        except httpx.HTTPError as exc:
            raise Failure(f"no answer from {self.url}: {type(exc).__name__}: {exc}") from None
        try:
            parsed = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            parsed = None
        return Answer(response.status_code, response.headers, response.content, parsed)

    def request(self, method: str, *params: Any) -> dict[str, Any]:
        """Return a 2.0 request object for method with positional params and a fresh id."""
        return {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}

    def response(self, request: dict[str, Any], *, wait: float = 0.0) -> dict[str, Any]:
        """Send one request; return its JSON-RPC 2.0 response object (Failure if it is none)."""
        answer = self.post(request, wait=wait)
        reply = answer.json
        if not isinstance(reply, dict) or reply.get("jsonrpc") != "2.0":
            raise Failure(f"{request['method']}: not a JSON-RPC 2.0 response: {answer.describe()}")
        if reply.get("id") != request["id"]:
            raise Failure(f"{request['method']}: answered id {short(reply.get('id'))}, "
                          f"not {request['id']}")  # fmt: skip
        if ("result" in reply) == ("error" in reply):
            raise Failure(f"{request['method']}: a response needs result or error, not both "
                          f"or neither: {answer.describe()}")  # fmt: skip
        return reply

    def call(self, method: str, *params: Any, wait: float = 0.0) -> Any:
        """Call method; return its result, or Failure naming the error it got instead."""
        reply = self.response(self.request(method, *params), wait=wait)
        if "error" in reply:
            raise Failure(f"{method}: expected a result, got error {short(reply['error'], 160)}")
        return reply["result"]

    def error(self, method: str, *params: Any, code: int, wait: float = 0.0) -> dict[str, Any]:
        """Call method expecting error code; return the error object (Failure otherwise)."""
        reply = self.response(self.request(method, *params), wait=wait)
        return expect_error(reply, code, method)


def key_refused(endpoint: Endpoint) -> str | None:
    """Call ``status`` once: the endpoint's refusal of the key, in a few words, or None.

    Only a refusal (HTTP 401 or 403) counts; an endpoint that cannot be
    reached or answers garbage is left to the rules, which say how.
    """
    try:
        answer = endpoint.post(endpoint.request("status"))
    except Failure:
        return None
    if answer.status not in (401, 403):
        return None
    error = answer.json.get("error") if isinstance(answer.json, dict) else None
    said = error.get("message") if isinstance(error, dict) else None
    return f"HTTP {answer.status}: {short(said)}" if said else answer.describe()


def expect_error(reply: Any, code: int, what: str) -> dict[str, Any]:
    """Return reply's error object if its code is code; Failure saying what came instead."""
    error = reply.get("error") if isinstance(reply, dict) else None
    if not isinstance(error, dict):
        raise Failure(f"{what}: expected error {code}, got {short(reply, 160)}")
    if error.get("code") != code:
        raise Failure(f"{what}: expected error {code}, got {short(error, 160)}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        raise Failure(f"{what}: error {code} without a message: {short(error)}")
    return error
