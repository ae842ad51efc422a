"""A JSON-RPC client that behaves on the wire as berryMQ 0.3's ``jsonrpc.client.ServerProxy``.

0.3's proxy rides on Python's xmlrpc ``Transport``: it POSTs with
``Content-Type: text/xml``, takes credentials only as ``user:password@`` in
the URL (sent as HTTP Basic), and raises on any status but 200. Its body is
``{"id": null, "method": ..., "params": [...]}`` on every call; it raises
unless the answer's id is null too, raises when ``error`` is not null, and
otherwise returns ``result``. Its ``get`` unpacks the result into exactly
``identifier, args, kwargs``.
"""

from __future__ import annotations

import json
import xmlrpc.client
from typing import Any
from urllib.parse import urlsplit


class RawTransport(xmlrpc.client.Transport):
    """Python's xmlrpc transport, handing back the body instead of parsing XML."""

    def parse_response(self, response: Any) -> Any:
        return response.read()


class ServerProxyV03:
    """Call an endpoint as 0.3's ServerProxy did; ``url`` may hold ``user:password@``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.handler = parts.path or "/JSON"
        self.transport = RawTransport()

    def __enter__(self) -> ServerProxyV03:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.transport.close()

    def call(self, method: str, *params: Any) -> Any:
        """Return the result of method(*params); raise RuntimeError for an error answer."""
        request = json.dumps({"id": None, "method": method, "params": list(params)})
        raw = self.transport.request(self.host, self.handler, request.encode())
        response = json.loads(raw)
        if response["id"] is not None:
            raise RuntimeError(f"Invalid request id (is: {response['id']}, expected: None)")
        if response["error"] is not None:
            raise RuntimeError(f"JSON Error: {response['error']}")
        return response["result"]

    def get(self, token: str, block: bool = True, timeout: float = 1000) -> tuple[str, Any, Any]:
        """Pull a message as 0.3's connect.get() did: unpack exactly three values."""
        identifier, args, kwargs = self.call("get", token, block, timeout)
        return identifier, args, kwargs
