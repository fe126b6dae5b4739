"""The load client's HTTP/1.1 pool against a scripted server on loopback: keep-alive,
bodies by length and chunked, a connection the server closed while idle, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from soldout.rehearsal.transport import ConnectionFailed, Http11Pool, RequestTimeout

Respond = Callable[[bytes], bytes | None]  # request head -> raw reply (None: stall)
Start = Callable[..., Awaitable["Server"]]


class Server:
    def __init__(self, respond: Respond, close_after: int | None = None) -> None:
        self.respond = respond
        self.close_after = close_after  # replies per connection before closing it, silently
        self.connections = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                self.heads.append(head)
                reply = self.respond(head)
                if reply is None:
                    await reader.read()  # no answer, until the client hangs up
                    return
                writer.write(reply)
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def serve() -> AsyncIterator[Start]:
    started: list[Server] = []

    async def start(respond: Respond, close_after: int | None = None) -> Server:
        server = Server(respond, close_after)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        started.append(server)
        return server

    yield start
    for s in started:
        assert s.server is not None
        s.server.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_requests_reuse_one_kept_alive_connection(serve: Start) -> None:
    server = await serve(lambda head: ok())
    pool = Http11Pool(server.url, max_connections=4)
    for _ in range(5):
        reply = await pool.request("GET", "/a", {}, None, timeout=2)
        assert (reply.status, reply.body) == (200, b'{"ok":true}')
    await pool.aclose()
    assert server.connections == 1
    assert server.heads[0].startswith(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_a_post_carries_its_headers_and_length(serve: Start) -> None:
    server = await serve(lambda head: ok())
    pool = Http11Pool(server.url)
    await pool.request("POST", "/c", {"Idempotency-Key": "k1"}, b'{"sku":"A"}', timeout=2)
    await pool.aclose()
    assert b"Idempotency-Key: k1\r\n" in server.heads[0]
    assert b"Content-Length: 11\r\n" in server.heads[0]


async def test_a_chunked_body_is_read_whole(serve: Start) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
    )
    server = await serve(lambda head: chunked)
    pool = Http11Pool(server.url)
    assert (await pool.request("GET", "/", {}, None, timeout=2)).body == b"hello world"
    assert (await pool.request("GET", "/", {}, None, timeout=2)).body == b"hello world"
    await pool.aclose()
    assert server.connections == 1


async def test_retry_after_is_read(serve: Start) -> None:
    limited = b"HTTP/1.1 429 Too Many\r\nretry-after: 2\r\ncontent-length: 0\r\n\r\n"
    server = await serve(lambda head: limited)
    pool = Http11Pool(server.url)
    reply = await pool.request("POST", "/c", {}, b"{}", timeout=2)
    await pool.aclose()
    assert (reply.status, reply.retry_after, reply.body) == (429, 2.0, b"")


async def test_a_connection_closed_while_idle_is_replaced(serve: Start) -> None:
    server = await serve(lambda head: ok(), close_after=1)
    pool = Http11Pool(server.url, max_connections=1)
    for _ in range(3):
        assert (await pool.request("POST", "/c", {}, b"{}", timeout=2)).status == 200
    await pool.aclose()
    assert server.connections == 3
    assert len(server.heads) == 3  # each request reached the server once


async def test_connection_close_is_honoured(serve: Start) -> None:
    server = await serve(lambda head: ok(extra=b"connection: close\r\n"))
    pool = Http11Pool(server.url)
    await pool.request("GET", "/", {}, None, timeout=2)
    await pool.request("GET", "/", {}, None, timeout=2)
    await pool.aclose()
    assert server.connections == 2


async def test_no_reply_in_time_is_a_timeout(serve: Start) -> None:
    server = await serve(lambda head: None)
    pool = Http11Pool(server.url)
    with pytest.raises(RequestTimeout):
        await pool.request("GET", "/", {}, None, timeout=0.1)
    await pool.aclose()


async def test_nobody_listening_is_a_connection_failure() -> None:
    pool = Http11Pool("http://127.0.0.1:9")  # discard port: nothing listens on loopback
    with pytest.raises(ConnectionFailed):
        await pool.request("GET", "/", {}, None, timeout=2)
    await pool.aclose()
