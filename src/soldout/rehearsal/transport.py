"""The load client's one I/O port: send a request, get a reply.

`Http11Pool` is the real adapter: HTTP/1.1 with keep-alive over asyncio streams, a
bounded pool of connections to one origin. It was chosen by measurement over httpx and
aiohttp (docs/rehearsal.md, "The load client"): a rehearsal must not be limited by its
own client. Tests inject any other `Transport` (an in-memory one, say).

    pool = Http11Pool("http://127.0.0.1:8000", max_connections=128)
    reply = await pool.request("GET", "/api/v1/launches", {}, None, timeout=5)
    await pool.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

__all__ = [
    "ConnectionFailed",
    "Http11Pool",
    "Reply",
    "RequestTimeout",
    "Transport",
    "TransportError",
]


class TransportError(Exception):
    """No answer: the connection failed or closed before a whole reply came."""


class ConnectionFailed(TransportError):
    pass


class RequestTimeout(TransportError):
    pass


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    retry_after: float | None = None


class Transport(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,  # noqa: ASYNC109 - for the exchange, not the wait for a connection
    ) -> Reply: ...

    async def aclose(self) -> None: ...


class _Connection:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, False

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused connection closed before any byte of the reply: the server had closed it
    while idle, so the request was not taken; send it again on a new connection."""


class Http11Pool:
    """Up to `max_connections` keep-alive connections to the origin of `base_url`."""

    def __init__(self, base_url: str, max_connections: int = 128) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._prefix = parts.path.rstrip("/")
        default_port = self.port == (443 if self._ssl else 80)
        host_header = self.host if default_port else f"{self.host}:{self.port}"
        self._host_line = f"Host: {host_header}\r\n".encode()
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._open: set[_Connection] = set()

    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,  # noqa: ASYNC109 - for the exchange, not the wait for a connection
    ) -> Reply:
        head = [f"{method} {self._prefix}{path} HTTP/1.1\r\n".encode(), self._host_line]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d\r\n" % len(body or b""))
        head.append(b"\r\n")
        data = b"".join(head) + (body or b"")
        async with self._slots:
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        connection = await self._connection()
                        try:
                            reply, keep = await self._exchange(connection, data)
                        except _Stale:
                            self._drop(connection)
                            continue
                        except BaseException:
                            self._drop(connection)
                            raise
                        if keep:
                            connection.used = True
                            self._idle.append(connection)
                        else:
                            self._drop(connection)
                        return reply
            except TimeoutError:
                raise RequestTimeout(f"no reply within {timeout:g} s") from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from None
            except ValueError as exc:  # a reply we cannot parse
                raise ConnectionFailed(f"bad reply: {exc}") from None

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.writer.is_closing() and not connection.reader.at_eof():
                return connection
            self._drop(connection)
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, limit=1 << 20
        )
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        self._open.discard(connection)
        connection.close()

    async def _exchange(self, connection: _Connection, data: bytes) -> tuple[Reply, bool]:
        reader = connection.reader
        connection.writer.write(data)
        try:
            await connection.writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            partial = getattr(exc, "partial", b"")
            if connection.used and not partial:
                raise _Stale from None
            raise
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status = int(rest[:3])
        length: int | None = None
        chunked = False
        keep = version == "HTTP/1.1"
        retry_after: float | None = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                option = value.strip().lower()
                if option in ("close", "keep-alive"):
                    keep = option == "keep-alive"
            elif name == "retry-after":
                with contextlib.suppress(ValueError):
                    retry_after = float(value)
        if chunked:
            body = await _read_chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body, keep = await reader.read(), False
        return Reply(status, body, retry_after), keep

    async def aclose(self) -> None:
        for connection in list(self._open):
            self._drop(connection)
        self._idle.clear()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
