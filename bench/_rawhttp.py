"""A minimal HTTP/1.1 keep-alive client for load generation, on asyncio streams.

The bench's load generator shares the machine's two cores with the server it measures; httpx
spends about a millisecond of CPU per request, which at a few hundred requests a second takes
most of a core away from the server. This client does only what the bench needs (one
connection per client, JSON bodies, Content-Length responses) for a small fraction of that,
with the same surface the phases use: ``get``, ``post``, and responses with ``status_code``,
``json()``, ``text`` and ``raise_for_status()``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


class RawHTTPError(OSError):
    """The connection failed or the server broke the protocol."""


@dataclass
class RawResponse:
    """A status code and a body."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        """Raise ``RawHTTPError`` for a 4xx or 5xx."""
        if self.status_code >= 400:
            raise RawHTTPError(f"HTTP {self.status_code}: {self.text[:200]}")


class RawClient:
    """One keep-alive connection to ``base_url``, reopened when the server closes it."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._fixed = f"Host: {self.host}:{self.port}\r\n{extra}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def get(self, path: str, params: dict[str, Any] | None = None) -> RawResponse:
        """``GET path?params``."""
        if params:
            path = f"{path}?{urlencode(params)}"
        return await self._request(b"GET", path, None)

    async def delete(self, path: str) -> RawResponse:
        """``DELETE path``."""
        return await self._request(b"DELETE", path, None)

    async def post(self, path: str, json: Any = None,
                   content: bytes | None = None) -> RawResponse:
        """``POST path`` with a JSON body (``content``: one already encoded)."""
        return await self._request(b"POST", path, content if content is not None
                                   else _dumps(json))

    async def _request(self, method: bytes, path: str, body: bytes | None) -> RawResponse:
        head = method + b" " + path.encode() + b" HTTP/1.1\r\n" + self._fixed
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: " + \
                str(len(body)).encode() + b"\r\n"
        head += b"\r\n"
        for attempt in (1, 2):     # a kept-alive connection the server closed: reconnect once
            try:
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(self.host,
                                                                               self.port)
                assert self._reader is not None
                self._writer.write(head)
                if body:
                    self._writer.write(body)     # megabytes: not copied into one message
                return await _read_response(self._reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                await self.aclose()
                if attempt == 2:
                    raise RawHTTPError(str(exc)) from exc
        raise AssertionError("unreachable")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by the bench client")
    return RawResponse(status, await reader.readexactly(length) if length else b"")
