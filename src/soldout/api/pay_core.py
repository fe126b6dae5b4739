"""Paying for a held claim, whatever carried the request: `paid` is the route's work (the
FastAPI route calls it), and `PayCore` answers `POST /api/v1/claims/{id}/payment` in
front of the framework, as `ClaimCore` answers a claim, where this process decides the
payment (one process; not a worker, not an owner that catches up before each request).

Claim then pay is what a sale's buyers all do, and FastAPI's routing, dependencies and
middleware cost more of the event loop than the payment's own work (docs/payments.md).
`PayCore` serves the plain request: a fan's bearer token or storefront session known in
memory, a JSON body that is a valid `PaymentIn` with each key once. Anything else is
handed to the app whole, before anything was done, so every refusal of a malformed
request is the app's own (`None` from `answer`). Once it has started paying, every
outcome is answered here: the order (200), pending (202), or the error in the one shape.

    core = PayCore(platform)
    answered = await core.answer(claim_id, headers, body)   # None: the app answers
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from pydantic import ValidationError

from soldout.api.claim_request import ClaimHeaders, bearer, cookie_value, idempotency_key
from soldout.api.errors import domain_error_response, error_body, extra_headers
from soldout.api.json_body import is_json
from soldout.api.schemas import PaymentIn
from soldout.api.views import order_view, payment_view
from soldout.domain.errors import DomainError, InvalidInput
from soldout.engine.payable import refuse_unpayable
from soldout.services import Platform
from soldout.web import FAN_COOKIE

__all__ = ["PAY_ROUTE", "PayCore", "paid", "pay_claim"]

PAY_ROUTE = "/api/v1/claims/{claim_id}/payment"
_PREFIX, _SUFFIX = "/api/v1/claims/", "/payment"
_FAILED = error_body(
    "internal_error", "something went wrong on our side; the request may not have been carried out"
)
log = logging.getLogger(__name__)


def pay_claim(method: str, path: str) -> str | None:
    """The claim id of `POST /api/v1/claims/{id}/payment`, else None."""
    if method == "POST" and path.endswith(_SUFFIX) and path.startswith(_PREFIX):
        claim_id = path[len(_PREFIX) : -len(_SUFFIX)]
        if claim_id and "/" not in claim_id:
            return claim_id
    return None


async def paid(
    platform: Platform, fan_id: str, claim_id: str, body: PaymentIn, key: str | None
) -> tuple[int, dict[str, Any]]:
    """Pay for the fan's held claim: (200, the order) or (202, pending, with the
    provider's page when it has one); a refusal raises its `DomainError`."""
    claim = await platform.engine.claim_of(fan_id, claim_id)  # another fan's: 404
    # What the request itself lacks first; the address (which the fan must go and give)
    # last, so that fixing it is the last thing to do.
    key = idempotency_key(key)
    checkout = platform.engine.checkout
    # (a token sent to a hosted provider is refused by the engine, once it knows this is
    # no retry of an earlier attempt: a retry is answered as the attempt was)
    refuse_unpayable(checkout.provider, claim, body.method, "")
    if not body.token and not checkout.provider.hosted:
        raise InvalidInput("a card token is required", field="token")
    if body.shipping is not None:
        await platform.fans.set_shipping(fan_id, body.shipping.model_dump())
    else:
        await platform.fans.require_shipping(fan_id)
    outcome = await platform.engine.pay(fan_id, claim_id, body.method, body.token, key)
    if outcome.order is None:
        pending = {
            "status": "pending",
            "payment": payment_view(outcome.payment),
            "redirect_url": outcome.redirect_url,
        }
        return 202, pending
    return 200, order_view(outcome.order)


def _keys(value: Any) -> int:
    """The keys of every object in a parsed JSON value."""
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_keys(v) for v in value)
    return 0


class PayCore:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def _fan(self, headers: ClaimHeaders) -> str | None:
        """The fan a valid bearer token, or a storefront session in memory, names."""
        auth = headers.get("authorization")
        if auth is not None:
            try:
                return self._platform.tokens.fan_of(bearer(auth))
            except DomainError:
                return None
        if headers.get("x-soldout-web") != "1":
            return None
        cookies = headers.get("cookie") or ""
        if cookies.count(FAN_COOKIE + "=") != 1 or '"' in cookies:
            return None  # (the app reads a cookie given twice, or quoted, its own way)
        session = cookie_value(cookies, FAN_COOKIE)
        return self._platform.sessions.fan_of(session) if session else None

    @staticmethod
    def _body(headers: ClaimHeaders, body: bytes) -> PaymentIn | None:
        if not is_json(headers.get("content-type")):
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            request = PaymentIn.model_validate(data)
        except ValidationError:
            return None
        # a ':' more than keys (of a valid shape: two levels): a key given twice, or one
        # inside a string (the app looks)
        return None if body.count(b":") > _keys(data) else request

    async def answer(
        self, claim_id: str, headers: ClaimHeaders, body: bytes
    ) -> tuple[int, bytes, dict[str, str] | None, str] | None:
        """(status, JSON body, extra headers, the fan), or None: the app answers it."""
        started = time.perf_counter()
        fan_id = self._fan(headers)
        request = self._body(headers, body) if fan_id is not None else None
        if fan_id is None or request is None:
            return None
        extra = None
        try:
            status, view = await paid(
                self._platform, fan_id, claim_id, request, headers.get("idempotency-key")
            )
            answer = orjson.dumps(view)
        except DomainError as error:
            status, answer = domain_error_response(error)
            extra = extra_headers(error)
        except Exception:
            log.exception("payment failed: claim %s", claim_id)
            status, answer = 500, _FAILED
        self._platform.metrics.request("POST", PAY_ROUTE, status, time.perf_counter() - started)
        return status, answer, extra, fan_id
