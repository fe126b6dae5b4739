"""The claim hot path as raw ASGI, in front of the FastAPI app.

`POST /api/v1/launches/{id}/claims` is most of the traffic on launch day and almost all
of it is answered `sold_out` once a batch is gone, so it skips the framework: read the
headers and the body, and hand them to `ClaimCore.answer` (`claim_core.py`: the one
claim path). Every other request goes to the FastAPI app, behind a request size limit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from soldout.api import access
from soldout.api.claim_core import ClaimCore, DecidedElsewhere
from soldout.api.claim_request import CLAIM_HEADERS, MAX_CLAIM_BODY, claim_launch
from soldout.api.errors import error_body
from soldout.api.json_body import replaying
from soldout.api.pay_core import PAY_ROUTE, PayCore, pay_claim
from soldout.api.proxies import TrustedProxies
from soldout.services.media import MAX_UPLOAD_BYTES
from soldout.web import ADMIN_COOKIE

__all__ = ["Front", "MakerCheck", "carries_credentials", "read_body", "too_large"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + (1 << 20)  # an image and the form fields around it
_UPLOADS = re.compile(r"^/(?:admin/products(?:/[^/]+)?|admin/shop|api/v1/products/[^/]+/images)$")
_JSON_HEADERS = [(b"content-type", b"application/json")]
log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client left before its whole body arrived: nothing is done with the part."""


async def read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()  # (appending to bytes would copy the whole body at every chunk)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return bytes(body)


MakerCheck = Callable[[str | None, str], bool]
"""(the `Authorization` header, the `Cookie` header) -> whether the request is the maker's:
only such requests may send an upload's large body."""


def carries_credentials(authorization: str | None, cookie: str) -> bool:
    """A request that could be the maker's: a bearer token, or the admin's cookie, unchecked.
    What a process that cannot check them uses (a scale-out worker: the owner it forwards
    to checks); where they can be checked, `Front(maker=...)` does, before a byte is read."""
    return authorization is not None or ADMIN_COOKIE + "=" in cookie


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    *,
    close: bool = False,
    retry_after: int = 0,
    extra: Mapping[str, str] | None = None,
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_or_refuse(
    receive: Receive, send: Send, limit: int, length: bytes | str | None
) -> bytes | None:
    """The whole body; None once it was refused (413: its declared `length` or what came
    is over `limit`) or the client left before sending all of it."""
    if length is not None and length.isdigit() and int(length) > limit:
        await too_large(send, limit)
        return None
    try:
        return await read_body(receive, limit)
    except ClientGone:
        return None
    except BodyTooLarge:
        await too_large(send, limit)
        return None


async def too_large(send: Send, limit: int) -> None:
    """413, and the connection closes: the rest of the body is never read."""
    body = error_body("payload_too_large", f"the body is over {limit} bytes")
    await _answer(send, 413, body, close=True)


class Front:
    """The outermost ASGI app: claims go to the engine, the rest to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        claims: ClaimCore,
        max_body: int,
        *,
        proxies: TrustedProxies | None = None,
        pay: PayCore | None = None,
        maker: MakerCheck = carries_credentials,
    ) -> None:
        """`pay`: payments answered here too (where this process decides them); `maker`:
        whether a request's credentials are the maker's (large uploads)."""
        self._app = app
        self.is_maker = maker
        self._claims = claims
        self.pay = pay
        # `answer` is the core's own bound method: no call of ours in between
        self.answer = claims.answer
        self._max_body = max_body
        self.proxies = proxies or TrustedProxies()

    @property
    def app(self) -> ASGIApp:
        """The app behind the hot path (the rest of the API and the web pages)."""
        return self._app

    @property
    def max_body(self) -> int:
        return self._max_body

    def body_limit(self, method: str, path: str, credentials: bool) -> int:
        """The largest body a request may send: image uploads (the admin's product and
        shop forms, the API's product images) up to `UPLOAD_BODY_LIMIT` when the request
        is the maker's (`is_maker`), the rest `max_body`."""
        if credentials and method == "POST" and _UPLOADS.match(path):
            return max(self._max_body, UPLOAD_BODY_LIMIT)
        return self._max_body

    @property
    def limits_addresses(self) -> bool:
        """Whether claims are rate-limited per client address (else it need not be read)."""
        return self._claims.limits_addresses

    def forwarded(self, scope: Scope) -> Scope:
        """The scope with the client's address and scheme as a trusted proxy saw them."""
        return self.proxies.rewrite(scope) if self.proxies else scope

    def paid_claim(self, method: str, path: str) -> str | None:
        """The claim a request pays for, if this front answers payments."""
        return pay_claim(method, path) if self.pay is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self.forwarded(scope)
            launch_id = claim_launch(scope["method"], scope["path"])
            if access.enabled():
                await self._logged(launch_id, scope, receive, send)
            elif launch_id is not None:
                await self.claim(launch_id, scope, receive, send)
            elif (claim_id := self.paid_claim(scope["method"], scope["path"])) is not None:
                await self.pay_for(claim_id, scope, receive, send)
            else:
                await self._limited(scope, receive, send)
            return
        await self._app(scope, receive, send)

    async def _logged(
        self, launch_id: str | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
        line = access.AccessLine(scope["method"], given)
        send = line.watch(send)
        try:
            claim_id = self.paid_claim(scope["method"], scope["path"])
            if launch_id is not None:
                line.route = access.CLAIM_ROUTE
                line.fan_id = await self.claim(launch_id, scope, receive, send)
            elif claim_id is not None:
                paid_by = await self.pay_for(claim_id, scope, receive, send)
                if paid_by is not None:  # (else the app answered: its route, its fan)
                    line.fan_id, line.route = paid_by, PAY_ROUTE
            else:
                await self._limited(scope, receive, send)
        finally:
            if launch_id is None and line.route is None:
                line.seen_in(scope)
            line.write()

    async def claim(self, launch_id: str, scope: Scope, receive: Receive, send: Send) -> str | None:
        """Answers a claim; returns the fan who made it, where known."""
        headers: dict[str, str] = {}
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name in CLAIM_HEADERS:  # (the first of a repeated one, as the app)
                headers.setdefault(name.decode(), value.decode("latin-1"))
        body = await read_or_refuse(receive, send, MAX_CLAIM_BODY, length)
        if body is None:
            return None
        client = scope.get("client")
        try:
            status, answer, retry_after, fan_id = await self.answer(
                launch_id, headers, body, client[0] if client else None
            )
        except DecidedElsewhere:  # a worker's claim for the owner: handed on whole
            await self._app(scope, replaying(body, receive), send)
            return None
        await _answer(send, status, answer, retry_after=retry_after)
        return fan_id

    async def pay_for(
        self, claim_id: str, scope: Scope, receive: Receive, send: Send
    ) -> str | None:
        """Answers a payment (`PayCore`), or hands it to the app whole; returns the fan
        who paid, where this answered it."""
        assert self.pay is not None
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # (the first of a repeated one, as the app)
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        body = await read_or_refuse(receive, send, self._max_body, headers.get("content-length"))
        if body is None:
            return None
        answered = await self.pay.answer(claim_id, headers, body)
        if answered is None:
            await self._app(scope, replaying(body, receive), send)
            return None
        status, answer, extra, fan_id = answered
        await _answer(send, status, answer, extra=extra)
        return fan_id

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A declared length over the limit is refused at once; a body without one
        (chunked) is read here up to the limit, then handed on."""
        authorization: str | None = None
        cookie = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
        limit = self.body_limit(
            scope["method"], scope["path"], self.is_maker(authorization, cookie)
        )
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await too_large(send, limit)
                    return
                await self._app(scope, receive, send)  # the server holds it to that length
                return
        body = await read_or_refuse(receive, send, limit, None)
        if body is not None:
            await self._app(scope, replaying(body, receive), send)
