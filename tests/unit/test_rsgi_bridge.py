"""The RSGI-to-ASGI bridge (`soldout.api.rsgi`) with a recording stand-in for Granian's
protocol: what a client would receive for whole, streamed, failing and live answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from granian._granian import RSGIProtocolClosed

from soldout.api.hotpath import ClientGone, read_body
from soldout.api.rsgi import SPOOL_IN_MEMORY, RsgiFront


class Headers:
    """Like Granian's RSGIHeaders: `items()` and `get()` leave out values it could not
    decode, `keys()` still names them."""

    def __init__(self, pairs: list[tuple[str, str | None]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self._pairs if v is not None]

    def keys(self) -> list[str]:
        return [k for k, _ in self._pairs]

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == key and v is not None), default)

    def __contains__(self, key: str) -> bool:
        return key in self.keys()


class Stream:
    def __init__(self, client: Protocol) -> None:
        self._client = client

    async def send_bytes(self, data: bytes) -> None:
        if self._client.gone:
            raise RSGIProtocolClosed("transport closed")
        self._client.body.append(data)
        await asyncio.sleep(0)


class Protocol:
    """Records the answer; `gone` makes sends fail as when the client has left."""

    def __init__(self, body: bytes = b"") -> None:
        self._body = body
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.calls: list[str] = []
        self.gone = False
        self.left = asyncio.Event()

    async def __call__(self) -> bytes:
        return self._body

    def __aiter__(self) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            yield self._body

        return chunks()

    async def client_disconnect(self) -> None:
        await self.left.wait()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.calls.append("bytes")
        self.status, self.headers, self.body = status, headers, [body]

    def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
        self.calls.append("file")
        self.status, self.headers = status, headers
        self.body = [Path(path).read_bytes()]

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Stream:
        self.calls.append("stream")
        self.status, self.headers = status, headers
        return Stream(self)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def scope(path: str = "/x", headers: list[tuple[str, str | None]] | None = None) -> Any:
    return SimpleNamespace(
        proto="http",
        http_version="1.1",
        method="GET",
        scheme="http",
        path=path,
        query_string="a=%C3%A9",
        client="127.0.0.1:5000",
        server="127.0.0.1:8000",
        headers=Headers(headers or [("host", "127.0.0.1:8000")]),
    )


def bridge_to(app: Any, spool: Path) -> RsgiFront:
    front = SimpleNamespace(app=app, max_body=65536, forwarded=lambda scope: scope)
    return RsgiFront(front, {}, spool)  # type: ignore[arg-type]


def spooled(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def start(content_type: bytes = b"text/csv") -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", content_type)],
    }


def part(body: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def test_a_whole_answer_goes_in_one_call(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start(b"application/json"))
        await send(part(b"{}", more=False))

    client = Protocol()
    await bridge_to(app, tmp_path).bridge(scope(), client)
    assert (client.calls, client.status, client.body) == (["bytes"], 200, [b"{}"])


async def test_a_streamed_answer_is_sent_whole_with_its_length(tmp_path: Path) -> None:
    chunks = [b"order_id,sku\n", b"ord_1,A\n" * 40_000, b"ord_2,B\n" * 100_000]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        for chunk in chunks:
            await send(part(chunk))
        await send(part(b"", more=False))

    client = Protocol()
    await bridge_to(app, tmp_path).bridge(scope(), client)
    whole = b"".join(chunks)
    assert len(whole) > SPOOL_IN_MEMORY  # through a file, which Granian reads at its pace
    assert client.calls == ["file"]
    assert client.header("content-length") == str(len(whole))
    assert client.body == [whole]


async def test_a_small_streamed_answer_goes_in_one_call(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(part(b"order_id\n"))
        await send(part(b"ord_1\n", more=False))

    client = Protocol()
    await bridge_to(app, tmp_path).bridge(scope(), client)
    assert client.calls == ["bytes"]
    assert client.body == [b"order_id\nord_1\n"]
    assert spooled(tmp_path) == []


async def test_an_answer_the_app_left_unfinished_is_a_500(tmp_path: Path) -> None:
    """(e.g. a download cancelled by the server's stop): never a short body sent as whole."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(part(b"x" * (SPOOL_IN_MEMORY + 1)))

    client = Protocol()
    await bridge_to(app, tmp_path).bridge(scope(), client)
    assert client.status == 500
    assert orjson.loads(client.body[0])["error"]["code"] == "internal_error"
    assert spooled(tmp_path) == []  # its spool file is gone


async def test_a_stop_ends_live_events_but_lets_a_download_finish(tmp_path: Path) -> None:
    heard: list[str] = []

    def app_for(content_type: bytes) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send(start(content_type))
            await send(part(b"first\n"))
            listening = asyncio.ensure_future(receive())
            await asyncio.sleep(0)
            front.close()  # the server stops
            done, _ = await asyncio.wait({listening}, timeout=0.5)
            heard.append("disconnect" if done else "still serving")
            listening.cancel()
            await send(part(b"", more=False))

        return app

    for content_type in (b"text/event-stream", b"text/csv"):
        front = bridge_to(app_for(content_type), tmp_path)
        await front.bridge(scope(), Protocol())
    assert heard == ["disconnect", "still serving"]


async def test_a_stream_that_fails_half_way_is_a_500_not_a_short_body(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send(part(b"order_id,sku\n"))
        raise OSError("the disk went away")

    client = Protocol()
    await bridge_to(app, tmp_path).bridge(scope(), client)
    assert client.status == 500
    assert orjson.loads(client.body[0])["error"]["code"] == "internal_error"
    assert b"order_id" not in b"".join(client.body)


async def test_server_sent_events_go_out_as_they_come(tmp_path: Path) -> None:
    seen_by_client: list[list[bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start(b"text/event-stream"))
        await send(part(b"event: history\ndata: []\n\n"))
        seen_by_client.append(list(client.body))
        await send(part(b"event: snapshot\ndata: {}\n\n"))
        client.gone = True  # the browser tab closes
        await send(part(b"event: snapshot\ndata: {}\n\n"))
        client.left.set()
        assert (await receive())["type"] == "http.request"
        assert (await receive())["type"] == "http.disconnect"

    client = Protocol()
    await bridge_to(app, tmp_path).bridge(scope(), client)
    assert seen_by_client == [[b"event: history\ndata: []\n\n"]]
    assert client.calls == ["stream"]
    assert client.header("content-length") is None
    assert len(client.body) == 2


async def test_a_header_granian_could_not_read_is_refused_by_name(tmp_path: Path) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("must not be called")

    client = Protocol()
    headers: list[tuple[str, str | None]] = [("host", "h"), ("cookie", None)]
    await bridge_to(app, tmp_path).bridge(scope(headers=headers), client)
    body = orjson.loads(client.body[0])["error"]
    assert (client.status, body["code"], body["field"]) == (400, "bad_header", "cookie")


async def test_the_query_string_is_passed_as_utf8_bytes(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)
        await send(start())
        await send(part(b"", more=False))

    await bridge_to(app, tmp_path).bridge(scope(), Protocol())
    assert seen["query_string"] == b"a=%C3%A9"
    assert seen["client"] == ("127.0.0.1", 5000)


async def test_over_asgi_a_body_cut_short_by_the_client_is_not_used(tmp_path: Path) -> None:
    """(`hotpath.read_body`, uvicorn's path:) the client left before the last chunk."""
    messages = [
        {"type": "http.request", "body": b'{"name": "complete-looking"}', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    with pytest.raises(ClientGone):
        await read_body(receive, 65536)
