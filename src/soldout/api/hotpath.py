"""The claim hot path as raw ASGI, in front of the FastAPI app.

`POST /api/v1/launches/{id}/claims` is most of the traffic on launch day and almost all
of it is answered `sold_out` once a batch is gone, so it skips the framework: read the
headers, verify the signed token, parse a tiny JSON body, ask the engine, answer. Every
other request goes to the FastAPI app, behind a request size limit.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from soldout.api import access
from soldout.api.claim_request import (
    CLAIM_HEADERS,
    MAX_CLAIM_BODY,
    ClaimHeaders,
    bearer,
    claim_launch,
    cookie_value,
    idempotency_key,
    parse_claim,
    passage_of,
)
from soldout.api.errors import domain_error_response, error_body
from soldout.api.json_body import replaying
from soldout.api.proxies import TrustedProxies
from soldout.api.views import claim_view
from soldout.domain.errors import (
    DomainError,
    RateLimited,
    Unauthorized,
)
from soldout.engine import SaleEngine
from soldout.metrics import ClaimMeter
from soldout.services.gate import Gate
from soldout.services.media import MAX_UPLOAD_BYTES
from soldout.services.tokens import TokenSigner
from soldout.web import ADMIN_COOKIE, FAN_COOKIE

__all__ = ["Front", "carries_credentials", "read_body", "too_large"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + (1 << 20)  # an image and the form fields around it
_UPLOADS = re.compile(r"^/(?:admin/products(?:/[^/]+)?|admin/shop|api/v1/products/[^/]+/images)$")
_JSON_HEADERS = [(b"content-type", b"application/json")]
INTERNAL_ERROR = error_body("internal_error", "something went wrong on our side; nothing was sold")
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


def carries_credentials(authorization: bool, cookie: str) -> bool:
    """A request that could be the maker's: a bearer token, or the admin's cookie. Only
    such requests may send an upload's large body; anyone else's is refused at 64 KiB
    before it is read, signed in or not being checked after."""
    return authorization or ADMIN_COOKIE + "=" in cookie


async def _answer(
    send: Send, status: int, body: bytes, *, close: bool = False, retry_after: int = 0
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def too_large(send: Send, limit: int) -> None:
    """413, and the connection closes: the rest of the body is never read."""
    body = error_body("payload_too_large", f"the body is over {limit} bytes")
    await _answer(send, 413, body, close=True)


class Front:
    """The outermost ASGI app: claims go to the engine, the rest to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        engine: SaleEngine,
        tokens: TokenSigner,
        gate: Gate,
        max_body: int,
        *,
        fan_session: Callable[[str], str | None] = lambda session: None,
        proxies: TrustedProxies | None = None,
        claims: ClaimMeter | None = None,
    ) -> None:
        self._app = app
        self._engine = engine
        self._tokens = tokens
        self._gate = gate
        self._max_body = max_body
        self._fan_session = fan_session  # a storefront cookie's session -> its fan
        self.proxies = proxies or TrustedProxies()
        self._claims = claims or ClaimMeter()  # claims by answer, for /metrics
        self._counts = self._claims.codes

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
        `carries_credentials`, the rest `max_body`."""
        if credentials and method == "POST" and _UPLOADS.match(path):
            return max(self._max_body, UPLOAD_BODY_LIMIT)
        return self._max_body

    @property
    def limits_addresses(self) -> bool:
        """Whether claims are rate-limited per client address (else it need not be read)."""
        return self._gate.limits_addresses

    def forwarded(self, scope: Scope) -> Scope:
        """The scope with the client's address and scheme as a trusted proxy saw them."""
        return self.proxies.rewrite(scope) if self.proxies else scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self.forwarded(scope)
            launch_id = claim_launch(scope["method"], scope["path"])
            if access.enabled():
                await self._logged(launch_id, scope, receive, send)
            elif launch_id is not None:
                await self.claim(launch_id, scope, receive, send)
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
            if launch_id is not None:
                line.route = access.CLAIM_ROUTE
                line.fan_id = await self.claim(launch_id, scope, receive, send)
            else:
                await self._limited(scope, receive, send)
        finally:
            if launch_id is None:
                line.seen_in(scope)
            line.write()

    async def claim(self, launch_id: str, scope: Scope, receive: Receive, send: Send) -> str | None:
        """Answers a claim; returns the fan who made it, where known."""
        headers: dict[str, str] = {}
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name in CLAIM_HEADERS:
                headers[name.decode()] = value.decode("latin-1")
        if length is not None and length.isdigit() and int(length) > MAX_CLAIM_BODY:
            await too_large(send, MAX_CLAIM_BODY)
            return None
        try:
            body = await read_body(receive, MAX_CLAIM_BODY)
        except ClientGone:
            return None
        except BodyTooLarge:
            await too_large(send, MAX_CLAIM_BODY)
            return None
        client = scope.get("client")
        status, answer, retry_after, fan_id = await self.answer(
            launch_id, headers, body, client[0] if client else None
        )
        await _answer(send, status, answer, retry_after=retry_after)
        return fan_id

    async def answer(
        self, launch_id: str, headers: ClaimHeaders, body: bytes, address: str | None
    ) -> tuple[int, bytes, int, str | None]:
        """A claim's status, JSON body, Retry-After seconds (0: none) and fan (None before
        the token is checked: for the access log), whatever the server interface that
        carried it. Each answer is counted by its code, and a claim that reaches the
        engine's decision is timed (`ClaimMeter`)."""
        started = 0  # not timed: answered before the decision (from memory)
        fan_id: str | None = None
        try:
            auth = headers.get("authorization")
            if auth is None and headers.get("x-soldout-web") == "1":
                # the storefront: the fan's session cookie (a dictionary lookup)
                fan_id = self._fan_session(cookie_value(headers.get("cookie") or "", FAN_COOKIE))
                if fan_id is None:
                    raise Unauthorized()
            else:
                fan_id = self._tokens.fan_of(bearer(auth))
                if fan_id is None:
                    raise Unauthorized("the token is not valid (expired, or signed out everywhere)")
            self._gate.limit(fan_id, address)
            request = parse_claim(body)
            key = idempotency_key(headers.get("idempotency-key"))
            with_code = request.priority_code is not None
            refused = self._engine.refusal(fan_id, launch_id, request.sku, key, with_code)
            if refused is not None:
                # (most of a stampede's answers: counted inline, a call costs as much)
                counts, code = self._counts, refused.code
                counts[code] = counts.get(code, 0) + 1
                return (*domain_error_response(refused), 0, fan_id)
            started = time.perf_counter_ns()
            outcome = await self._engine.claim(
                fan_id,
                launch_id,
                request.sku,
                request.quantity,
                key,
                request.priority_code,
                # (the gate's own headers are read only when the launch gets that far)
                lambda book: self._gate.check(
                    book,
                    fan_id,
                    passage_of(
                        headers.get("admission-token"), headers.get("proof-of-work"), with_code
                    ),
                ),
            )
        except RateLimited as error:
            self._claims.seen(error.code, started)
            return (*domain_error_response(error), error.retry_after, fan_id)
        except DomainError as error:
            self._claims.seen(error.code, started)
            return (*domain_error_response(error), 0, fan_id)
        except Exception:
            log.exception("claim failed")
            self._claims.seen("internal_error", started)
            return 500, INTERNAL_ERROR, 0, fan_id
        self._claims.seen("replayed" if outcome.replayed else "created", started)
        status = 200 if outcome.replayed else 201
        return status, orjson.dumps(claim_view(outcome.claim)), 0, fan_id

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A declared length over the limit is refused at once; a body without one
        (chunked) is read here up to the limit, then handed on."""
        authorization, cookie = False, ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = True
            elif name == b"cookie":
                cookie = value.decode("latin-1")
        limit = self.body_limit(
            scope["method"], scope["path"], carries_credentials(authorization, cookie)
        )
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await too_large(send, limit)
                    return
                await self._app(scope, receive, send)  # the server holds it to that length
                return
        try:
            body = await read_body(receive, limit)
        except ClientGone:
            return
        except BodyTooLarge:
            await too_large(send, limit)
            return
        await self._app(scope, replaying(body, receive), send)
