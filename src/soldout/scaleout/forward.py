"""Forwarding HTTP requests from a worker process to the owner process.

A claim worker answers claims itself and hands every other HTTP request to `Forward`,
which sends it on to the owner over a pool of keep-alive connections:

    forward = Forward(lambda: registry.owner_url)   # "http://127.0.0.1:9001", or None
    await forward(scope, receive, send)             # HTTP scopes only: lifespan is the caller's
    await forward.aclose()                          # at shutdown

- The owner gets the request as the client sent it: method, path (escapes, `..` segments
  and all), query string, body and headers, the original Host included, less the
  hop-by-hop headers (those of RFC 9110 7.6.1 and any that `Connection` names); the
  client's address is appended to `X-Forwarded-For`.
- Both bodies stream: the request body goes on as it is received, the answer comes back
  byte for byte as the owner sends it (a gzip body keeps its `Content-Encoding`), so an
  upload or an export is never held whole in memory and server-sent events arrive live.
  All the answer's headers come back (each `Set-Cookie`) less the hop-by-hop ones and
  `Date` and `Server`, which the server in front of this app writes itself.
- No owner known, or none reachable: 503 `owner_unavailable` with `Retry-After: 1`. The
  request was not sent, so not carried out: it can be sent again.
- The owner fails after the request was sent, before its answer began: 502 `owner_failed`,
  and the request may or may not have been carried out. Once the answer has begun its
  status cannot change: the error is raised and the server aborts the connection, so an
  answer cut short never looks complete. A client that leaves closes the owner's answer.

`timeout` bounds each step (connecting, waiting for a free connection, each read or
write), not the whole exchange: an event stream lives as long as it sends something that
often (soldout's ping every 15 s). Each answer in progress, an event stream included,
holds one of the `max_connections`; a request that finds none free within `timeout` is
answered 503.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from soldout.api.errors import error_body

__all__ = ["Forward"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-authenticate proxy-authorization te trailer"
    b" transfer-encoding upgrade".split()
)
_WRITTEN_BY_SERVER = frozenset({b"date", b"server"})  # (passed on, each would be there twice)
_NOT_SENT = (
    "no owner process can be reached right now; the request was not carried out: "
    "send it again in a moment"
)
_FAILED = (
    "the owner process failed while answering; the request may or may not have been carried out"
)


class _ClientGone(Exception):
    """The client left while its request body was being sent on."""


class Forward:
    """An ASGI app that forwards each HTTP request to the owner's address."""

    def __init__(
        self,
        owner: Callable[[], str | None],
        *,
        timeout: float = 30.0,
        max_connections: int = 256,
    ) -> None:
        self._owner = owner
        self._timeout = httpx.Timeout(timeout).as_dict()
        # Shorter than the 5 s that uvicorn keeps an idle connection: a pooled connection is
        # dropped here before the owner could close it under a request being sent on it.
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=2.0,
        )
        # The client's cookie jar would keep every fan's Set-Cookie: it takes none.
        no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.AsyncClient(limits=limits, cookies=no_cookies, trust_env=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Forward answers HTTP requests only, not {scope['type']!r}")
        base = self._owner()
        if base is None:
            await _answer_error(send, 503, "owner_unavailable", _NOT_SENT)
            return
        given: Headers = [(name.lower(), value) for name, value in scope["headers"]]
        has_body = any(name in (b"content-length", b"transfer-encoding") for name, _ in given)
        request = httpx.Request(
            scope["method"],
            base.rstrip("/") + _target(scope),
            headers=_request_headers(given, scope.get("client")),
            content=_body(receive) if has_body else None,
            extensions={"timeout": self._timeout},
        )
        try:
            response = await self._client.send(request, stream=True)
        except _ClientGone:
            return
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log.warning("owner %s not reached: %r", base, exc)
            await _answer_error(send, 503, "owner_unavailable", _NOT_SENT)
            return
        except httpx.TransportError as exc:
            log.warning("owner %s failed on %s %s: %r", base, scope["method"], scope["path"], exc)
            await _answer_error(send, 502, "owner_failed", _FAILED)
            return
        try:
            await _relay_until_client_leaves(response, receive, send)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


def _target(scope: Scope) -> str:
    """The path and query as the client sent them, in the ASCII httpx takes. httpx would
    resolve `.` and `..` segments: escaped, they reach the owner's router as they came."""
    raw = scope.get("raw_path") or urllib.parse.quote(scope["path"]).encode()
    segments = _ascii(raw).split("/")
    path = "/".join(s.replace(".", "%2E") if s in (".", "..") else s for s in segments)
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{_ascii(query)}" if query else path


def _ascii(raw: bytes) -> str:
    # (bytes past ASCII, controls and `#` escaped; escapes already there stay as they are)
    return "".join(chr(b) if 0x20 < b < 0x7F and b != 0x23 else f"%{b:02X}" for b in raw)


def _request_headers(given: Headers, client: tuple[str, int] | None) -> Headers:
    drop = _hop_by_hop(given) | {b"x-forwarded-for"}
    headers = [(name, value) for name, value in given if name not in drop]
    forwarded = [value for name, value in given if name == b"x-forwarded-for"]
    if client:
        forwarded.append(str(client[0]).encode())
    if forwarded:
        headers.append((b"x-forwarded-for", b", ".join(forwarded)))
    return headers


def _hop_by_hop(headers: Headers) -> frozenset[bytes]:
    """The hop-by-hop names, with those that `Connection` names (`headers` in lower case)."""
    connection = b",".join(value for name, value in headers if name == b"connection").lower()
    return _HOP_BY_HOP | {token.strip() for token in connection.split(b",")}


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return


async def _relay_until_client_leaves(
    response: httpx.Response, receive: Receive, send: Send
) -> None:
    relay = asyncio.create_task(_relay(response, send))
    gone = asyncio.create_task(_until_disconnect(receive))
    try:
        await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relay, gone):
            task.cancel()  # (no effect on a task that has finished)
        await asyncio.gather(relay, gone, return_exceptions=True)
    if not relay.cancelled():
        relay.result()  # an owner that failed half-way: raised, the server aborts


async def _relay(response: httpx.Response, send: Send) -> None:
    headers = [(name.lower(), value) for name, value in response.headers.raw]
    drop = _hop_by_hop(headers) | _WRITTEN_BY_SERVER
    kept = [(name, value) for name, value in headers if name not in drop]
    await send({"type": "http.response.start", "status": response.status_code, "headers": kept})
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    # (a body the owner answered before reading all of it is read here and dropped)
    while (await receive())["type"] != "http.disconnect":
        pass


async def _answer_error(send: Send, status: int, code: str, message: str) -> None:
    body = error_body(code, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
