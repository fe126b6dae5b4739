"""The claim hot path as raw ASGI, in front of the FastAPI app.

`POST /api/v1/launches/{id}/claims` is most of the traffic on launch day and almost all
of it is answered `sold_out` once a batch is gone, so it skips the framework: read the
headers, verify the signed token, parse a tiny JSON body, ask the engine, answer. Every
other request goes to the FastAPI app, behind a request size limit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import orjson

from soldout.api import access
from soldout.api.errors import domain_error_response, error_body
from soldout.api.json_body import check_unique_keys, replaying
from soldout.api.proxies import TrustedProxies
from soldout.api.views import claim_view
from soldout.domain.errors import (
    DomainError,
    InvalidInput,
    MalformedBody,
    RateLimited,
    Unauthorized,
)
from soldout.engine import SaleEngine
from soldout.engine.draws import RESERVED_KEY_PREFIX
from soldout.services.gate import Gate, Passage
from soldout.services.media import MAX_UPLOAD_BYTES
from soldout.services.tokens import TokenSigner
from soldout.web import ADMIN_COOKIE, FAN_COOKIE

__all__ = [
    "CLAIM_HEADERS",
    "ClaimHeaders",
    "ClaimRequest",
    "Front",
    "claim_launch",
    "parse_claim",
    "passage_of",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLAIM_PREFIX = "/api/v1/launches/"
CLAIM_SUFFIX = "/claims"
MAX_CLAIM_BODY = 4096
MAX_KEY_LENGTH = 200
UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + (1 << 20)  # an image and the form fields around it
_UPLOADS = re.compile(r"^/(?:admin/products(?:/[^/]+)?|admin/shop|api/v1/products/[^/]+/images)$")
_JSON_HEADERS = [(b"content-type", b"application/json")]
_FIELDS = frozenset({"sku", "quantity", "priority_code"})
INTERNAL_ERROR = error_body("internal_error", "something went wrong on our side; nothing was sold")
log = logging.getLogger(__name__)
_NOTHING, _WITH_CODE_ONLY = Passage(), Passage(with_code=True)


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client left before its whole body arrived: nothing is done with the part."""


class ClaimRequest:
    __slots__ = ("priority_code", "quantity", "sku")

    def __init__(self, sku: str, quantity: int, priority_code: str | None) -> None:
        self.sku, self.quantity, self.priority_code = sku, quantity, priority_code


def parse_claim(body: bytes) -> ClaimRequest:
    """`{"sku": str, "quantity"?: int >= 1, "priority_code"?: str}`, nothing else, and
    each key once (`json_body`)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedBody() from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field=None)
    if body.count(b":") > len(data):
        # A key given twice (orjson keeps the last) or a ':' in a string: look closer. A
        # body of distinct keys and plain values has one ':' per key, and costs nothing.
        check_unique_keys(body)
    if not data.keys() <= _FIELDS:
        raise InvalidInput("unknown field", field=sorted(data.keys() - _FIELDS)[0])
    sku = data.get("sku")
    if not isinstance(sku, str) or not sku:
        raise InvalidInput("sku is required: the code of the SKU to buy", field="sku")
    quantity = data.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidInput("quantity must be a whole number of at least 1", field="quantity")
    code = data.get("priority_code")
    if code is not None and (not isinstance(code, str) or not 0 < len(code) <= 64):
        raise InvalidInput("priority_code must be a code string", field="priority_code")
    return ClaimRequest(sku, quantity, code)


def passage_of(
    admission: bytes | str | None, proof: bytes | str | None, with_code: bool
) -> Passage:
    """The `Admission-Token` and `Proof-Of-Work: TOKEN:NONCE` headers of a claim."""
    if admission is None and proof is None:
        return _WITH_CODE_ONLY if with_code else _NOTHING
    if isinstance(admission, bytes):
        admission = admission.decode("latin-1")
    if isinstance(proof, bytes):
        proof = proof.decode("latin-1")
    token, _, nonce = (proof or "").strip().rpartition(":")
    return Passage(
        admission=(admission or "").strip() or None,
        pow_token=token or None,
        pow_nonce=nonce or None,
        with_code=with_code,
    )


def cookie_value(header: str, name: str) -> str:
    """One cookie's value from a raw `Cookie` header (empty if absent)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return ""


def bearer(value: str | None) -> str:
    if value is None or not value[:7].lower() == "bearer ":
        raise Unauthorized()
    return value[7:].strip()


def idempotency_key(value: bytes | str | None) -> str:
    """The `Idempotency-Key` header, required on every call that buys or pays."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    key = (value or "").strip()
    if key.startswith(RESERVED_KEY_PREFIX):
        raise InvalidInput(
            f"Idempotency-Keys starting with {RESERVED_KEY_PREFIX!r} are reserved",
            field="Idempotency-Key",
        )
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(
            f"an Idempotency-Key header of 1 to {MAX_KEY_LENGTH} characters is required,"
            " so that a retry never buys twice",
            field="Idempotency-Key",
            code="missing_idempotency_key",
        )
    return key


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


class ClaimHeaders(Protocol):
    """The request headers, by lower-case name, as text (None when absent). Granian's RSGI
    headers are one; for ASGI, a dict of the headers a claim reads (`CLAIM_HEADERS`).
    A claim reads only what it needs: the cookie only without a token, the gate's
    headers only once it reaches the gate (a sold-out answer never reads them)."""

    def get(self, name: str, /) -> str | None: ...


CLAIM_HEADERS = frozenset(
    {
        b"authorization",
        b"x-soldout-web",
        b"cookie",
        b"idempotency-key",
        b"admission-token",
        b"proof-of-work",
    }
)


def claim_launch(method: str, path: str) -> str | None:
    """The launch id of `POST /api/v1/launches/{id}/claims`, else None."""
    if method == "POST" and path.endswith(CLAIM_SUFFIX) and path.startswith(CLAIM_PREFIX):
        launch_id = path[len(CLAIM_PREFIX) : -len(CLAIM_SUFFIX)]
        if launch_id and "/" not in launch_id:
            return launch_id
    return None


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
    ) -> None:
        self._app = app
        self._engine = engine
        self._tokens = tokens
        self._gate = gate
        self._max_body = max_body
        self._fan_session = fan_session  # a storefront cookie's session -> its fan
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
        carried it."""
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
                return (*domain_error_response(refused), 0, fan_id)
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
            return (*domain_error_response(error), error.retry_after, fan_id)
        except DomainError as error:
            return (*domain_error_response(error), 0, fan_id)
        except Exception:
            log.exception("claim failed")
            return 500, INTERNAL_ERROR, 0, fan_id
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
