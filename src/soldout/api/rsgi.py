"""Granian's native interface (RSGI) in front of the app.

Under Granian the claim hot path is answered straight from RSGI: the request body comes
with one call and the answer goes out with one, where ASGI needs an awaited message each
way across Granian's threads. On this project's benchmark that is what reading a body
costs: an ASGI hello-world that also reads the body runs at about 0.73 of one that does
not, the same over RSGI at 0.88-0.99 (docs/server-choice.md). Every other request is
handed to the ASGI app (FastAPI) through `bridge`, and the ASGI lifespan is driven by
`Lifespan`; uvicorn, the tests' in-process client and everything else still speak ASGI
to `Front` directly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian.rsgi import Scope

from soldout.api.errors import error_body
from soldout.api.hotpath import (
    CLAIM_HEADER_NAMES,
    INTERNAL_ERROR,
    MAX_CLAIM_BODY,
    ASGIApp,
    ClaimHeaders,
    Front,
    Message,
    claim_launch,
)

__all__ = ["Lifespan", "RsgiFront"]

log = logging.getLogger(__name__)
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_JSON = ("content-type", "application/json")
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class TooLarge(Exception):
    pass


async def read_body(headers: Any, protocol: HTTPProtocol, limit: int) -> bytes:
    """The whole body, refusing a declared or streamed length over `limit`."""
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > limit:
            raise TooLarge
        return await protocol() if length != "0" else b""
    if "transfer-encoding" not in headers:
        return b""
    body = b""
    async for chunk in protocol:
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return body


def too_large(protocol: HTTPProtocol, limit: int) -> None:
    body = error_body("payload_too_large", f"the body is over {limit} bytes")
    protocol.response_bytes(413, [_JSON, ("connection", "close")], body)


def address_of(client: str) -> tuple[str, int]:
    """`"127.0.0.1:5000"` or `"[::1]:5000"` as ASGI's `(host, port)`."""
    host, _, port = client.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


class RsgiFront:
    """The RSGI app Granian calls: claims to `Front.answer`, the rest to `Front.app`."""

    def __init__(self, front: Front, state: dict[str, Any]) -> None:
        self._front = front
        self._state = state

    async def __rsgi__(self, scope: Scope, protocol: HTTPProtocol) -> None:
        launch_id = claim_launch(scope.method, scope.path)
        if launch_id is not None:
            await self.claim(launch_id, scope, protocol)
        else:
            await self.bridge(scope, protocol)

    async def claim(self, launch_id: str, scope: Scope, protocol: HTTPProtocol) -> None:
        headers = scope.headers
        claim = ClaimHeaders()
        for name, attribute in CLAIM_HEADER_NAMES.items():
            value = headers.get(name)
            if value is not None:
                setattr(claim, attribute, value)
        try:
            body = await read_body(headers, protocol, MAX_CLAIM_BODY)
        except TooLarge:
            too_large(protocol, MAX_CLAIM_BODY)
            return
        status, answer, retry_after = await self._front.answer(
            launch_id, claim, body, address_of(scope.client)[0]
        )
        out = [_JSON, ("retry-after", str(retry_after))] if retry_after else [_JSON]
        protocol.response_bytes(status, out, answer)

    async def bridge(self, scope: Scope, protocol: HTTPProtocol) -> None:
        """One request through the ASGI app: its body is read first (up to the size
        limit), then `receive` waits for the client to go away, as ASGI asks."""
        headers = scope.headers
        if scope.method in _BODYLESS and "content-length" not in headers:
            body = b""
        else:
            try:
                body = await read_body(headers, protocol, self._front.max_body)
            except TooLarge:
                too_large(protocol, self._front.max_body)
                return
        asgi_scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": scope.http_version,
            "method": scope.method,
            "scheme": scope.scheme,
            "path": scope.path,
            "query_string": scope.query_string.encode("latin-1"),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "client": address_of(scope.client),
            "server": address_of(scope.server),
            "state": self._state.copy(),
        }
        response = _Response(protocol)
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await protocol.client_disconnect()
            return {"type": "http.disconnect"}

        try:
            await self._front.app(asgi_scope, receive, response.send)
        except ProtocolClosed:
            return  # the client left mid-answer
        except Exception:
            log.exception("request failed: %s %s", scope.method, scope.path)
            if not response.started:
                protocol.response_bytes(500, [_JSON], INTERNAL_ERROR)
            return
        response.finish()


class _Response:
    """ASGI `send` onto an RSGI protocol: one call for a whole body, a stream otherwise."""

    def __init__(self, protocol: HTTPProtocol) -> None:
        self._protocol = protocol
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self._stream: Any = None
        self.started = False
        self._done = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
            ]
            return
        if kind != "http.response.body" or self._done:
            return
        self.started = True
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self._stream is None:
            if not more:
                self._done = True
                self._protocol.response_bytes(self._status, self._headers, body)
                return
            self._stream = self._protocol.response_stream(self._status, self._headers)
        if body:
            await self._stream.send_bytes(body)
        if not more:
            self._done = True

    def finish(self) -> None:
        """The app returned without a body message: answer with an empty one."""
        if not self.started:
            self._protocol.response_bytes(self._status, self._headers, b"")


class Lifespan:
    """The ASGI lifespan protocol, driven by hand for an app served over RSGI."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Future[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        self._task = asyncio.ensure_future(self._app(scope, self._inbox.get, self._outbox.put))
        await self._step("startup")

    async def shutdown(self) -> None:
        if self._task is not None and not self._task.done():
            await self._step("shutdown")
            await self._task

    async def _step(self, step: str) -> None:
        assert self._task is not None
        await self._inbox.put({"type": f"lifespan.{step}"})
        answer = asyncio.ensure_future(self._outbox.get())
        waiting: set[asyncio.Future[Any]] = {answer, self._task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self._task.result()  # raises what the app raised
            raise RuntimeError(f"the app ended its lifespan during {step}")
        message = answer.result()
        if message["type"] != f"lifespan.{step}.complete":
            raise RuntimeError(f"{step} failed: {message.get('message', '')}")
