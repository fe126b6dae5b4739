"""`Forward` between two real uvicorn servers: what a client sends reaches the owner as
sent, the owner's answer comes back as it is produced, and a missing or failing owner is
answered 503 or 502 with the project's error body."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from soldout.scaleout.forward import Forward
from tests.support import free_port

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

WAIT = 10.0  # seconds: a bound on waiting for what must happen, never a pause


class Owner:
    """The owner process: remembers each request it received and answers by path. Its
    events are on its server's loop: set them with `Served.call`."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release = asyncio.Event()  # /stream sends its last event once set
        self.never = asyncio.Event()  # /hang answers once set (at the end of the test)
        self.client_left = threading.Event()  # /live: the owner saw its client leave
        self.upload_cut = threading.Event()  # /upload: the client left before its end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/upload":
            digest, size = hashlib.sha256(), 0
            try:
                async for chunk in _chunks(receive):
                    digest.update(chunk)
                    size += len(chunk)
            except ClientLeft:
                self.upload_cut.set()
                return
            body = orjson.dumps({"sha256": digest.hexdigest(), "size": size})
            await _answer(send, 200, body, [(b"content-type", b"application/json")])
        elif path in ("/stream", "/live"):
            await _start(send, 200, [(b"content-type", b"text/event-stream")])
            await _part(send, b"data: first\n\n")
            if path == "/live":
                while (await receive())["type"] != "http.disconnect":
                    pass
                self.client_left.set()
                return
            await self.release.wait()
            await _part(send, b"data: last\n\n")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif path == "/gzip":
            headers = [(b"content-type", b"text/csv"), (b"content-encoding", b"gzip")]
            await _answer(send, 200, gzip.compress(b"sku,units\nA,3\n" * 1000), headers)
        elif path == "/hang":
            await self.never.wait()
            await _answer(send, 200, b"too late", [])
        else:
            body = b"".join([chunk async for chunk in _chunks(receive)])
            seen = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.seen.append({**scope, "headers": seen, "body": body})
            cookies = [(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; HttpOnly")]
            await _answer(send, 201, b'{"ok":true}', [(b"x-owner", b"yes"), *cookies])


class ClientLeft(Exception):
    pass


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientLeft
        more = message.get("more_body", False)
        yield message.get("body", b"")


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _part(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await _start(send, status, [*headers, (b"content-length", str(len(body)).encode())])
    await send({"type": "http.response.body", "body": body})


class Served:
    """An ASGI app served by uvicorn on a free loopback port, on an event loop of its own
    in a background thread (as if in another process); `after` runs there once it stops."""

    def __init__(self, app: Any, after: Callable[[], Awaitable[None]] | None = None) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        # (proxy_headers off, as `soldout serve` runs it: uvicorn leaves X-Forwarded-For be)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self._after = after
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        while not self.server.started and not self._ended.is_set():
            self._ended.wait(0.01)  # uvicorn says `started` once it listens: nothing to await
        assert self.server.started, "uvicorn did not start"

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            try:
                await self.server.serve()
            finally:
                if self._after is not None:
                    await self._after()

        try:
            asyncio.run(main())
        finally:
            self._ended.set()

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the server's loop (where its app's events live)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=WAIT)
        assert not self._thread.is_alive(), "uvicorn did not stop"


@contextmanager
def forwarding(owner: Callable[[], str | None], timeout: float = 30.0) -> Iterator[str]:
    """A worker: `Forward` served by uvicorn; yields its URL."""
    forward = Forward(owner, timeout=timeout)
    served = Served(forward, after=forward.aclose)
    try:
        yield served.url
    finally:
        served.stop()


@pytest.fixture
def owner() -> Iterator[tuple[Owner, Served]]:
    app = Owner()
    served = Served(app)
    try:
        yield app, served
    finally:
        served.call(app.never.set)
        served.call(app.release.set)
        served.stop()


@pytest.fixture
def worker(owner: tuple[Owner, Served]) -> Iterator[str]:
    url = owner[1].url
    with forwarding(lambda: url) as worker_url:
        yield worker_url


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=WAIT, trust_env=False)


async def test_the_owner_gets_the_request_as_sent_and_its_answer_comes_back(
    owner: tuple[Owner, Served], worker: str
) -> None:
    path = "/api/v1/launches/lch%2F1/caf%C3%A9"
    query = "q=a%20b&x=1&x=2&empty="
    body = orjson.dumps({"sku": "A", "quantity": 2})
    headers = {
        "content-type": "application/json",
        "x-request-id": "req-42",
        "host": "shop.example",
        "x-forwarded-for": "203.0.113.7",
        "connection": "keep-alive, x-private",
        "x-private": "for the first hop only",
    }
    async with client() as http:
        response = await http.put(f"{worker}{path}?{query}", content=body, headers=headers)

    (seen,) = owner[0].seen
    assert seen["method"] == "PUT"
    assert seen["raw_path"] == path.encode()
    assert seen["path"] == "/api/v1/launches/lch/1/café"
    assert seen["query_string"] == query.encode()
    assert seen["body"] == body
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-request-id"] == "req-42"
    assert seen["headers"]["host"] == "shop.example"
    assert seen["headers"]["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert "x-private" not in seen["headers"]  # named by Connection: hop-by-hop

    assert response.status_code == 201
    assert response.content == b'{"ok":true}'
    assert response.headers["x-owner"] == "yes"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert len(response.headers.get_list("date")) == 1


async def test_a_dot_segment_reaches_the_owner_unresolved(
    owner: tuple[Owner, Served], worker: str
) -> None:
    # (httpx resolves `..` before sending: the request is written by hand)
    port = int(worker.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /files/../secret?x=1 HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    await writer.wait_closed()

    assert answer.startswith(b"HTTP/1.1 201 ")
    (seen,) = owner[0].seen
    assert seen["path"] == "/files/../secret"  # what the worker's own router would see
    assert seen["query_string"] == b"x=1"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_5_mb_upload_arrives_whole(worker: str, chunked: bool) -> None:
    data = random.Random(7).randbytes(5 * 1024 * 1024)

    async def parts() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 64 * 1024):
            yield data[i : i + 64 * 1024]

    async with client() as http:
        response = await http.post(f"{worker}/upload", content=parts() if chunked else data)

    assert response.status_code == 200
    assert response.json() == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


async def test_an_upload_cut_short_never_looks_whole_to_the_owner(
    owner: tuple[Owner, Served], worker: str
) -> None:
    port = int(worker.rsplit(":", 1)[1])
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /upload HTTP/1.1\r\nhost: shop\r\ntransfer-encoding: chunked\r\n\r\n")
    writer.write(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
    await writer.drain()
    writer.close()  # after a chunk of 64 KiB, without the last (empty) chunk
    await writer.wait_closed()

    assert await asyncio.to_thread(owner[0].upload_cut.wait, WAIT)


async def test_an_event_stream_reaches_the_client_as_it_is_produced(
    owner: tuple[Owner, Served], worker: str
) -> None:
    async with client() as http, http.stream("GET", f"{worker}/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        parts = response.aiter_raw()
        # The owner sends its last event only once released, and only this test releases
        # it: the first arrives while the last is not produced yet.
        assert await asyncio.wait_for(anext(parts), WAIT) == b"data: first\n\n"
        owner[1].call(owner[0].release.set)
        assert b"".join([part async for part in parts]) == b"data: last\n\n"


async def test_a_client_that_leaves_ends_the_owners_answer(
    owner: tuple[Owner, Served], worker: str
) -> None:
    async with client() as http, http.stream("GET", f"{worker}/live") as response:
        assert await asyncio.wait_for(anext(response.aiter_raw()), WAIT) == b"data: first\n\n"
    # (leaving the block closed the client's connection mid-answer)
    assert await asyncio.to_thread(owner[0].client_left.wait, WAIT)


async def test_a_compressed_answer_is_passed_as_the_owner_sent_it(worker: str) -> None:
    async with client() as http, http.stream("GET", f"{worker}/gzip") as response:
        raw = b"".join([part async for part in response.aiter_raw()])

    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(raw)
    assert gzip.decompress(raw) == b"sku,units\nA,3\n" * 1000


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["field"] is None


async def test_no_owner_known_is_503_and_the_request_was_not_carried_out() -> None:
    with forwarding(lambda: None) as worker:
        async with client() as http:
            response = await http.post(f"{worker}/api/v1/x", json={"a": 1})

    _assert_error(response, 503, "owner_unavailable")
    assert response.headers["retry-after"] == "1"
    assert "not carried out" in response.json()["error"]["message"]


async def test_an_owner_that_does_not_listen_is_503() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with forwarding(lambda: closed) as worker:
        async with client() as http:
            response = await http.get(f"{worker}/api/v1/launches")

    _assert_error(response, 503, "owner_unavailable")
    assert response.headers["retry-after"] == "1"


async def test_an_owner_that_never_answers_is_502(owner: tuple[Owner, Served]) -> None:
    url = owner[1].url
    with forwarding(lambda: url, timeout=0.5) as worker:
        async with client() as http:
            response = await http.post(f"{worker}/hang", json={"a": 1})

    _assert_error(response, 502, "owner_failed")
    assert "may or may not" in response.json()["error"]["message"]
    assert "retry-after" not in response.headers


async def test_an_owner_that_drops_the_connection_is_502() -> None:
    received = asyncio.Event()

    async def accept_then_die(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        received.set()
        writer.close()

    dying = await asyncio.start_server(accept_then_die, "127.0.0.1", 0)
    port = dying.sockets[0].getsockname()[1]
    async with dying:
        with forwarding(lambda: f"http://127.0.0.1:{port}") as worker:
            async with client() as http:
                response = await http.get(f"{worker}/api/v1/launches")

    assert received.is_set()
    _assert_error(response, 502, "owner_failed")
