"""HTTP/1.1 POSTs over asyncio streams: thousands of open requests for a few KB each.

    request = await HTTPRequest.send(port, "/berrymq/rpc/", body, {"Authorization": ...})
    status, data = await request.response()   # reads it; the connection is closed
    request.abort()                            # or drop the connection, unanswered

An httpx client keeps a pool and a task per request; a long-poll load needs
only a socket per waiting request, so this is all it does: one request per
connection (``Connection: close``), a response with Content-Length or chunked.
``read_response`` reads one answer from any stream (a keep-alive one too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Self

__all__ = ["HTTPRequest", "post", "read_response"]


class HTTPRequest:
    """One POST on its own connection to 127.0.0.1, sent and not yet answered."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def send(
        cls, port: int, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> Self:
        """Connect and write the request; return without waiting for the answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        return cls(reader, writer)

    async def response(self) -> tuple[int, bytes]:
        """Read the answer: its status code and body. The connection is closed after."""
        try:
            return await read_response(self.reader)
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the connection at once (a client that gives up)."""
        self.writer.transport.abort()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response from reader (Content-Length, chunked, or to the end): status, body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding") == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return status, b"".join(parts)
    return status, await reader.read()


async def post(
    port: int, path: str, body: bytes, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """POST body and return the status code and body of the answer."""
    request = await HTTPRequest.send(port, path, body, headers)
    return await request.response()
