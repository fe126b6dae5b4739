"""Granian's native interface (RSGI) in front of the app.

Under Granian the claim hot path is answered straight from RSGI: the request body comes
with one call and the answer goes out with one, where ASGI needs an awaited message each
way across Granian's threads. On this project's benchmark that is what reading a body
costs: an ASGI hello-world that also reads the body runs at about 0.73 of one that does
not, the same over RSGI at 0.88-0.99 (docs/server-choice.md). Every other request is
handed to the ASGI app (FastAPI) through `bridge`, and the ASGI lifespan is driven by
`lifespan.Lifespan`; uvicorn, the tests' in-process client and everything else still speak ASGI
to `Front` directly.

What RSGI cannot say, the bridge works around: a response streamed by the app (a CSV
export) is collected (in memory up to 1 MiB, then in a file in the data directory's
`spool/`) and sent with its length once the app has sent its last part, because an RSGI
stream cannot be aborted and a failure half-way would otherwise reach the client as a
complete-looking body. A file is handed to Granian, which reads it at the client's pace
(a slow download holds a file, not memory). The cost: the first byte of an export comes
when the whole export is ready, and each export in progress takes its size on disk.
Server-sent events, which must be live, are sent as they come; a server stop ends them,
while other answers in progress are let finish. Granian leaves out header values it cannot decode as
text, so a request with such a header is refused (400 `bad_header`, naming it) instead
of being served as if the header were absent. Granian is run for HTTP/1.1 only. Left
as it is: a chunked body whose client leaves before the last chunk ends like a complete
one here (Granian's body iterator does not tell the two apart, and reading the body in
one call instead would buffer a body of any size before the limit could refuse it); a
JSON document cut short does not parse, so this matters only for a client that leaves
after a whole document but before the final chunk. Over ASGI the part is discarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, cast

from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian.rsgi import Scope

from soldout.api import access
from soldout.api.claim_core import DecidedElsewhere
from soldout.api.claim_request import MAX_CLAIM_BODY, claim_launch
from soldout.api.errors import error_body
from soldout.api.hotpath import Front, Message
from soldout.api.pay_core import PAY_ROUTE
from soldout.datadir import make_private_dir

__all__ = ["ASGI_VERSION", "RsgiFront"]

log = logging.getLogger(__name__)
ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
_JSON = ("content-type", "application/json")
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
SPOOL_IN_MEMORY = 1 << 20
SPOOL_KEEP_SECONDS = 300.0  # Granian opens a sent file within milliseconds
_FAILED = error_body(
    "internal_error", "something went wrong on our side; the request may not have been carried out"
)


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
    body = bytearray()  # (appending to bytes would copy the whole body at every chunk)
    async for chunk in protocol:
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


async def read_or_refuse(headers: Any, protocol: HTTPProtocol, limit: int) -> bytes | None:
    """The whole body; None once it was refused (413) or the client left before sending
    all of it (then nothing is answered)."""
    try:
        return await read_body(headers, protocol, limit)
    except TooLarge:
        too_large(protocol, limit)
    except ProtocolClosed:
        pass
    return None


def too_large(protocol: HTTPProtocol, limit: int) -> None:
    body = error_body("payload_too_large", f"the body is over {limit} bytes")
    protocol.response_bytes(413, [_JSON, ("connection", "close")], body)


def bad_header(protocol: HTTPProtocol, headers: Any) -> bool:
    """Answer 400 if Granian left out a header's value (one it could not read as text)."""
    readable = {name for name, _ in headers.items()}
    # (RSGIHeaders is not iterable; `keys()` still lists the names whose value it left out)
    unreadable = [name for name in headers.keys() if name not in readable]  # noqa: SIM118
    if not unreadable:
        return False
    message = f"the {unreadable[0]} header could not be read: use ASCII characters only"
    protocol.response_bytes(400, [_JSON], error_body("bad_header", message, unreadable[0]))
    return True


def address_of(client: str) -> tuple[str, int]:
    """`"127.0.0.1:5000"` or `"[::1]:5000"` as ASGI's `(host, port)`."""
    host, _, port = client.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


class RsgiFront:
    """The RSGI app Granian calls: claims to `Front.answer`, the rest to `Front.app`."""

    def __init__(self, front: Front, state: dict[str, Any], spool: Path) -> None:
        self._front = front
        self._state = state
        self._closing = asyncio.Event()
        self._spool = spool  # streamed answers waiting to be sent; emptied at each start
        if self._spool.exists():  # a crashed run's leftovers
            shutil.rmtree(self._spool, ignore_errors=True)
        make_private_dir(self._spool)  # (its files are 0600: `tempfile`)

    async def _live_and_closing(self, response: _Response) -> None:
        await self._closing.wait()
        await response.live.wait()

    def close(self) -> None:
        """The server is stopping: answers that wait for the client to leave (server-sent
        events) hear `http.disconnect` now, so the stop does not wait for every browser."""
        self._closing.set()

    async def __rsgi__(self, scope: Scope, protocol: HTTPProtocol) -> None:
        launch_id = claim_launch(scope.method, scope.path)
        if access.enabled():
            await self._logged(launch_id, scope, protocol)
        elif launch_id is not None:
            await self.claim(launch_id, scope, protocol)
        elif (claim_id := self._front.paid_claim(scope.method, scope.path)) is not None:
            await self.pay_for(claim_id, scope, protocol)
        else:
            await self.bridge(scope, protocol)

    async def _logged(self, launch_id: str | None, scope: Scope, protocol: HTTPProtocol) -> None:
        line = access.AccessLine(scope.method, scope.headers.get("x-request-id"))
        watched = cast(HTTPProtocol, access.WatchedProtocol(protocol, line))
        try:
            claim_id = self._front.paid_claim(scope.method, scope.path)
            if launch_id is not None:
                line.route = access.CLAIM_ROUTE
                line.fan_id = await self.claim(launch_id, scope, watched)
            elif claim_id is not None:
                paid_by = await self.pay_for(claim_id, scope, watched, line)
                if paid_by is not None:  # (else the app answered: its route, its fan)
                    line.fan_id, line.route = paid_by, PAY_ROUTE
            else:
                await self.bridge(scope, watched, line)
        finally:
            line.write()

    async def pay_for(
        self,
        claim_id: str,
        scope: Scope,
        protocol: HTTPProtocol,
        line: access.AccessLine | None = None,
    ) -> str | None:
        """Answers a payment (`PayCore`), or hands it to the app whole; returns the fan
        who paid, where this answered it."""
        assert self._front.pay is not None
        headers = scope.headers
        if bad_header(protocol, headers):
            return None
        body = await read_or_refuse(headers, protocol, self._front.max_body)
        if body is None:
            return None
        answered = await self._front.pay.answer(claim_id, headers, body)
        if answered is None:
            await self.bridge(scope, protocol, line, read=body)
            return None
        status, answer, extra, fan_id = answered
        protocol.response_bytes(status, [_JSON, *(extra or {}).items()], answer)
        return fan_id

    async def claim(self, launch_id: str, scope: Scope, protocol: HTTPProtocol) -> str | None:
        """Answers a claim; returns the fan who made it, where known."""
        headers = scope.headers
        if (
            headers.get("idempotency-key") is None or headers.get("authorization") is None
        ) and bad_header(protocol, headers):
            return None
        body = await read_or_refuse(headers, protocol, MAX_CLAIM_BODY)
        if body is None:
            return None
        address = None
        if self._front.limits_addresses:
            peer = address_of(scope.client)[0]
            address = self._front.proxies.client_of(peer, headers.get("x-forwarded-for"))
        try:
            status, answer, retry_after, fan_id = await self._front.answer(
                launch_id, headers, body, address
            )
        except DecidedElsewhere:  # a worker's claim for the owner: through the app, whole
            await self.bridge(scope, protocol, read=body)
            return None
        out = [_JSON, ("retry-after", str(retry_after))] if retry_after else [_JSON]
        protocol.response_bytes(status, out, answer)
        return fan_id

    async def bridge(
        self,
        scope: Scope,
        protocol: HTTPProtocol,
        line: access.AccessLine | None = None,
        read: bytes | None = None,
    ) -> None:
        """One request through the ASGI app: its body is read first (up to the size
        limit), then `receive` waits for the client to go away, as ASGI asks. `line`:
        the access log's, told the route and the fan the app found; `read`: the body,
        read already."""
        headers = scope.headers
        if bad_header(protocol, headers):
            return
        if read is not None:
            body = read
        elif scope.method in _BODYLESS and "content-length" not in headers:
            body = b""
        else:
            credentials = self._front.is_maker(
                headers.get("authorization"), headers.get("cookie") or ""
            )
            limit = self._front.body_limit(scope.method, scope.path, credentials)
            read_now = await read_or_refuse(headers, protocol, limit)
            if read_now is None:
                return
            body = read_now
        raw_scope: dict[str, Any] = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": scope.http_version,
            "method": scope.method,
            "scheme": scope.scheme,
            "path": scope.path,
            "query_string": scope.query_string.encode(),
            "root_path": "",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "client": address_of(scope.client),
            "server": address_of(scope.server),
            "state": self._state.copy(),
        }
        response = _Response(protocol, self._spool)
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            # The client leaving ends any answer; the server stopping ends only a live
            # stream of events (an export or a file in progress is let finish).
            left = asyncio.ensure_future(protocol.client_disconnect())
            live_and_closing = asyncio.ensure_future(self._live_and_closing(response))
            try:
                await asyncio.wait({left, live_and_closing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                left.cancel()
                live_and_closing.cancel()
            return {"type": "http.disconnect"}

        asgi_scope = self._front.forwarded(raw_scope)
        try:
            await self._front.app(asgi_scope, receive, response.send)
            await response.finish()
        except Exception:
            log.exception("request failed: %s %s", scope.method, scope.path)
            if not response.sent:
                protocol.response_bytes(500, [_JSON], _FAILED)
        finally:
            response.close()  # a stream ends when Granian's transport is let go
            if line is not None:
                line.seen_in(asgi_scope)


class _Response:
    """ASGI `send` onto an RSGI protocol. A whole body goes in one call; a streamed one is
    collected (in memory up to `SPOOL_IN_MEMORY`, then in a file) and sent with its length
    once the app has sent its last part; server-sent events go out live."""

    def __init__(self, protocol: HTTPProtocol, spool: Path) -> None:
        self._protocol = protocol
        self._spool_dir = spool
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self.live = asyncio.Event()  # set once the answer is a live stream of events
        self._live: Any = None  # the RSGI stream of server-sent events
        self._buffer: bytearray | None = None  # a streamed body, while small
        self._file: IO[bytes] | None = None  # ... once larger
        self._complete = False  # the app sent its last part
        self.sent = False  # the status line has gone (or is going) to the client

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            raw: list[tuple[bytes, bytes]] = message.get("headers", [])
            self._status = message["status"]
            self._headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
            if any(
                k.lower() == b"content-type" and v.startswith(b"text/event-stream") for k, v in raw
            ):
                self.live.set()
            return
        if kind != "http.response.body" or self._complete:
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        self._complete = not more
        if self.live.is_set():
            await self._send_live(body)
        elif self._buffer is None and self._file is None and not more:
            self.sent = True
            self._protocol.response_bytes(self._status, self._headers, body)
        else:
            self._collect(body)
            if not more:
                self._send_collected()

    async def _send_live(self, body: bytes) -> None:
        if self._live is None:
            self.sent = True
            self._live = self._protocol.response_stream(self._status, self._headers)
        if body:
            try:
                await self._live.send_bytes(body)
            except ProtocolClosed:
                self._complete = True  # the client left; the app hears it from `receive`

    def _collect(self, body: bytes) -> None:
        if self._file is not None:
            self._file.write(body)
            return
        if self._buffer is None:
            self._buffer = bytearray()
        self._buffer += body
        if len(self._buffer) > SPOOL_IN_MEMORY:
            spooled = tempfile.NamedTemporaryFile(dir=self._spool_dir, delete=False)  # noqa: SIM115
            spooled.write(self._buffer)
            self._file = spooled
            self._buffer = None

    def _send_collected(self) -> None:
        headers = [(k, v) for k, v in self._headers if k.lower() != "content-length"]
        self.sent = True
        if self._file is None:
            body = bytes(self._buffer or b"")
            self._protocol.response_bytes(self._status, headers, body)
            return
        length = self._file.tell()
        self._file.close()
        path = self._file.name
        self._file = None
        # Granian reads the file after this handler returns, with backpressure, so a
        # slow client holds a file, not memory; it is removed once Granian has it open.
        self._protocol.response_file(
            self._status, [*headers, ("content-length", str(length))], path
        )
        asyncio.get_running_loop().call_later(SPOOL_KEEP_SECONDS, _remove, path)

    async def finish(self) -> None:
        """The app has returned. An answer it did not complete is not sent as if whole."""
        if self._complete or self.live.is_set():
            return
        self._complete = True
        log.error("the app returned without completing its answer (status %s)", self._status)
        if not self.sent:
            self.sent = True
            self._protocol.response_bytes(500, [_JSON], _FAILED)

    def close(self) -> None:
        self._live = None
        if self._file is not None:  # an answer never sent
            self._file.close()
            _remove(self._file.name)
            self._file = None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
