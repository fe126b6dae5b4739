"""Mollie as a payment provider, through the official SDK (`mollie-api-python`).

Mollie takes iDEAL money in one step: a payment goes from `open` to `paid`, with no capture
of its own. soldout's authorize, then capture, maps onto it thus: `authorize` creates the
payment and answers `pending` with Mollie's checkout page; the fan pays there; `paid`
arrives (by webhook, or soldout asking) as `payment.authorized`; `capture` then only checks
that Mollie holds the expected amount. A card payment made with a manual capture mode
(`authorized`) is captured for real. A refund before payment cancels the payment where
Mollie allows it, and Mollie allows it only for some methods (an open iDEAL payment is
not cancelable: money that comes anyway is refunded when its event arrives).

Mollie's payment webhooks are not signed: Mollie posts `id=tr_...` and the receiver asks the
API what happened. So `verify_webhook` makes one GET, and a forged id fails on Mollie's 404.
Without a `webhook_url` (a shop on localhost, which Mollie cannot reach) soldout learns the
outcome by asking (`transaction`) when the fan comes back or after a restart.

The SDK is synchronous (requests): each call runs in a worker thread.

Usage: `MolliePayments(api_key, webhook_url="https://shop.example/payments/webhooks/mollie")`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qs

from mollie.api.client import Client
from mollie.api.error import (
    ConflictError,
    NotFoundError,
    RequestError,
    RequestSetupError,
    ResponseError,
    ResponseHandlingError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from mollie.api.objects.payment import Payment

from soldout.clock import Clock, SystemClock
from soldout.domain.errors import InvalidInput, PaymentFailed, WebhookRejected
from soldout.domain.money import Money, decimals
from soldout.payments.port import (
    Authorization,
    AuthorizationStatus,
    Deliver,
    EventType,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)

__all__ = ["MolliePayments"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Json = Mapping[str, Any]

_API_KEY = re.compile(r"(live|test)_\w+")
_PAYMENT_ID = re.compile(r"tr_[A-Za-z0-9]+")
_PAGE = 250  # the most Mollie lists at once
_LOOKBACK = timedelta(hours=24)  # how far back `transaction` looks for a lost answer
_MARK = "soldout_payment"  # the metadata key holding soldout's own payment id
_BAD_KEY = "Mollie refused the API key: check the Mollie key soldout is configured with"
_DECLINED = {
    "failed": "the payment failed at Mollie",
    "canceled": "the fan canceled the payment",
    "expired": "the payment expired before the fan paid",
}
_LEDGER = {
    "open": "pending",
    "pending": "pending",
    "authorized": "authorized",
    "paid": "captured",
    "failed": "declined",
    "expired": "declined",
    "canceled": "voided",
}
_CHANGED_AT = {
    "paid": "paidAt",
    "authorized": "authorizedAt",
    "failed": "failedAt",
    "canceled": "canceledAt",
    "expired": "expiredAt",
}


class _Unanswered(PaymentFailed):
    """Mollie did not answer (a timeout, a dropped connection): the call may have happened."""


class MolliePayments:
    """Mollie's hosted checkout. `api_base` points the SDK elsewhere (a test's fake)."""

    name = "mollie"
    methods = frozenset({"ideal", "creditcard", "bancontact"})
    hosted = True

    def __init__(
        self,
        api_key: str,
        *,
        webhook_url: str | None,
        api_base: str | None = None,
        timeout: float = 20.0,
        clock: Clock | None = None,
    ) -> None:
        key = api_key.strip()
        if not _API_KEY.fullmatch(key):  # the SDK's own refusal would quote the key
            raise ValueError("a Mollie API key is 'test_' or 'live_' and letters or digits")
        # requests takes a float; the SDK's hint (int or a pair of ints) is too narrow.
        self._client = Client(api_endpoint=api_base or "", timeout=timeout)  # type: ignore[arg-type]
        self._client.set_api_key(key)
        self._webhook_url = webhook_url
        self._clock = clock or SystemClock()

    # -- paying --------------------------------------------------------------------
    async def authorize(self, request: PaymentRequest) -> Authorization:
        # Mollie's page takes no card token, and sets its own expiry per method.
        method, amount, reference = request.method, request.amount, request.reference
        return_url, description = request.return_url, request.description
        if method not in self.methods:
            names = ", ".join(sorted(self.methods))
            raise InvalidInput(f"unknown payment method {method!r}; use {names}", field="method")
        if amount.amount <= 0:
            raise InvalidInput("the amount must be positive", field="amount")
        if not return_url:
            raise InvalidInput("Mollie needs the page to send the fan back to", field="return_url")
        data: dict[str, Any] = {
            "amount": _mollie_amount(amount),
            "description": (description or f"Payment {reference}")[:255],
            "redirectUrl": return_url,
            "cancelUrl": request.cancel_url,
            "method": method,
            "metadata": {_MARK: reference},
        }
        if self._webhook_url:
            data["webhookUrl"] = self._webhook_url
        key = f"soldout-{request.idempotency_key}-payment"
        try:
            payment, replayed = await self._call(
                lambda: self._create_payment(data, key),
                keep=(UnprocessableEntityError, ConflictError),
            )
        except UnprocessableEntityError as refusal:
            field = refusal.field or "method"
            raise InvalidInput(f"Mollie refused the payment: {refusal}", field=field) from None
        except ConflictError as busy:  # the first request under this key is still running
            raise TimeoutError("Mollie is still making this payment") from busy
        except _Unanswered as lost:
            # It may exist at Mollie: a retry under the same key finds it, charging nothing.
            raise TimeoutError(lost.message) from lost
        if replayed:  # the first answer, maybe long ago: what happened since
            payment = await self._payment(payment["id"])
        return _authorization(payment)

    async def capture(self, reference: str, amount: Money) -> None:
        payment = await self._payment(reference)
        if _money(payment) != amount:
            raise PaymentFailed(f"the Mollie payment is not of {amount}", field="amount")
        status = payment["status"]
        if _refunded(payment):
            raise PaymentFailed("the Mollie payment was refunded", field="reference")
        if status == "paid":
            return  # Mollie took the money when the fan paid
        if status != "authorized":
            raise PaymentFailed(f"a {status} Mollie payment cannot be captured", field="reference")
        captures = payment.captures
        body = {"amount": _mollie_amount(amount)}
        await self._call(
            lambda: captures.create(body, idempotency_key=f"soldout-{reference}-capture")
        )

    async def refund(self, reference: str, amount: Money, reason: str = "") -> None:
        payment = await self._payment(reference)
        if _money(payment) != amount:
            raise InvalidInput(f"the Mollie payment is not of {amount}", field="amount")
        status = payment["status"]
        if status in ("open", "pending", "authorized"):
            if not payment.get("isCancelable"):
                log.info("Mollie payment %s is %s and cannot be canceled yet", reference, status)
                return  # a later `paid` event is refunded then: its claim is no longer held
            if await self._cancel(reference):
                return
            payment = await self._payment(reference)  # it moved on meanwhile
            status = payment["status"]
        if status != "paid":
            return  # failed, canceled or expired: no money was taken
        left = amount.amount - _refunded(payment)
        if left <= 0:
            return
        body: dict[str, Any] = {"amount": _mollie_amount(Money(left, amount.currency))}
        if reason:
            body["description"] = reason[:140]
        refunds = payment.refunds
        await self._call(
            lambda: refunds.create(body, idempotency_key=f"soldout-{reference}-refund")
        )

    async def abandon(self, reference: str) -> None:
        payment = await self._payment(reference)
        if payment.get("isCancelable"):
            await self._cancel(reference)

    # -- being told, and asking ----------------------------------------------------
    async def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent | None:
        del headers  # a classic Mollie webhook is not signed: the API is asked instead
        payment_id = _webhook_payment_id(body)
        try:
            payment = await self._call(
                lambda: self._client.payments.get(payment_id), keep=(NotFoundError,)
            )
        except NotFoundError:
            raise WebhookRejected("Mollie knows no such payment", field="id") from None
        return _event(payment, now)

    def on_webhook(self, deliver: Deliver) -> None:
        """Nothing to do: Mollie posts its webhooks to `webhook_url` over HTTP."""

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        if reference is not None:
            known = await self._payment(reference)
            if _mark(known) == merchant_reference:
                return _line(known)
            log.warning("Mollie payment %s is not soldout's %s", reference, merchant_reference)
        since = self._clock.now() - _LOOKBACK
        async for payment in self._newest_first(since):
            if _mark(payment) == merchant_reference:
                return _line(payment)
        return None

    async def transactions(self, since: datetime | None = None) -> list[Transaction]:
        lines = [_line(p) async for p in self._newest_first(since) if _mark(p) is not None]
        return lines[::-1]

    async def close(self) -> None:
        """Close the SDK's HTTP connections (its session, made on the first call)."""
        session = getattr(self._client, "_client", None)
        if session is not None:
            session.close()

    # -- Mollie's API ----------------------------------------------------------------
    async def _call(
        self, work: Callable[[], T], *, keep: tuple[type[ResponseError], ...] = ()
    ) -> T:
        """Run one SDK call in a thread; its errors become soldout's (`keep` passes some)."""
        try:
            return await asyncio.to_thread(work)
        except keep:
            raise
        except UnauthorizedError:
            log.error(_BAD_KEY)
            raise PaymentFailed(_BAD_KEY) from None
        except ResponseError as refusal:
            raise PaymentFailed(f"Mollie refused the request: {refusal}") from refusal
        except ResponseHandlingError as garbled:
            raise PaymentFailed("Mollie's answer could not be read") from garbled
        except RequestSetupError as wrong:
            raise PaymentFailed(f"the request to Mollie is not valid: {wrong}") from wrong
        except RequestError as lost:
            log.warning("Mollie did not answer: %s", lost)
            raise _Unanswered("Mollie did not answer in time") from lost

    def _create_payment(self, data: dict[str, Any], key: str) -> tuple[Payment, bool]:
        """POST /payments, telling a replay of the first answer (`Idempotent-Replayed`)
        from a new payment; the SDK's own `payments.create` does not say."""
        answer = self._client.perform_http_call("POST", "payments", data, None, key)
        try:
            result = answer.json()
        except ValueError:
            raise PaymentFailed("Mollie's answer could not be read") from None
        if not 200 <= answer.status_code < 300:
            raise ResponseError.factory(result, key)  # type: ignore[no-untyped-call]
        replayed = bool(answer.headers.get("Idempotent-Replayed"))
        return Payment(result, self._client), replayed  # type: ignore[no-untyped-call]

    async def _payment(self, reference: str) -> Payment:
        try:
            return await self._call(
                lambda: self._client.payments.get(reference), keep=(NotFoundError,)
            )
        except NotFoundError:
            raise PaymentFailed(f"no payment {reference!r} at Mollie", field="reference") from None

    async def _cancel(self, reference: str) -> bool:
        """Cancel an open payment; False if Mollie no longer lets it be canceled."""
        key = f"soldout-{reference}-cancel"
        try:
            await self._call(
                lambda: self._client.payments.delete(reference, key),
                keep=(UnprocessableEntityError,),
            )
        except UnprocessableEntityError as refusal:
            log.info("Mollie payment %s was not canceled: %s", reference, refusal)
            return False
        return True

    async def _newest_first(self, since: datetime | None) -> AsyncIterator[Json]:
        """Every payment made at `since` or later, page by page from the newest."""
        page = await self._call(lambda: self._client.payments.list(limit=_PAGE))
        while True:
            for payment in page.get("_embedded", {}).get("payments", []):
                if since is not None and _at(payment["createdAt"]) < since:
                    return
                yield payment
            if not page.get("_links", {}).get("next"):
                return
            page = await self._call(page.get_next)


# -- Mollie's objects, read --------------------------------------------------------
def _mollie_amount(money: Money) -> dict[str, str]:
    """Mollie's amount: the value a string with exactly the currency's decimals."""
    return {"currency": money.currency, "value": money.decimal_text()}


def _minor(amount: Json) -> int:
    """A Mollie amount in minor units, exactly; refuses a value the currency cannot have."""
    try:
        units = Decimal(amount["value"]).scaleb(decimals(amount["currency"]))
    except (InvalidOperation, KeyError, TypeError) as bad:
        raise PaymentFailed(f"Mollie sent an amount soldout cannot read: {amount}") from bad
    if units != units.to_integral_value():
        raise PaymentFailed(f"Mollie sent an amount with too many decimals: {amount}")
    return int(units)


def _money(payment: Json) -> Money:
    return Money(_minor(payment["amount"]), payment["amount"]["currency"])


def _refunded(payment: Json) -> int:
    refunded = payment.get("amountRefunded")
    return 0 if refunded is None else _minor(refunded)


def _mark(payment: Json) -> str | None:
    """soldout's own payment id, or None for a payment soldout did not ask for."""
    metadata = payment.get("metadata")
    mark = metadata.get(_MARK) if isinstance(metadata, dict) else None
    return mark if isinstance(mark, str) else None


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _authorization(payment: Payment) -> Authorization:
    status = payment["status"]
    if status in _DECLINED:
        return Authorization(payment["id"], AuthorizationStatus.DECLINED, _DECLINED[status])
    if status in ("paid", "authorized"):
        return Authorization(payment["id"], AuthorizationStatus.AUTHORIZED)
    checkout = payment.get("_links", {}).get("checkout", {}).get("href")
    return Authorization(payment["id"], AuthorizationStatus.PENDING, redirect_url=checkout)


def _webhook_payment_id(body: bytes) -> str:
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True)
    except ValueError:  # not ASCII, or not a form
        raise WebhookRejected("a Mollie webhook is a form: id=tr_...", field="id") from None
    ids = form.get("id", [])
    if len(ids) != 1 or not _PAYMENT_ID.fullmatch(ids[0]):
        raise WebhookRejected("a Mollie webhook names one payment, tr_...", field="id")
    return ids[0]


def _event(payment: Json, now: datetime) -> WebhookEvent | None:
    mark = _mark(payment)
    if mark is None:
        return None  # another shop's payment on the same Mollie account
    status = payment["status"]
    money = _money(payment)
    if status == "paid" and _refunded(payment) >= money.amount:
        kind, name = EventType.REFUNDED, "refunded"
    elif status in ("paid", "authorized"):
        kind, name = EventType.AUTHORIZED, status
    elif status in _DECLINED:
        log.info("Mollie payment %s: %s", payment["id"], _DECLINED[status])
        kind = EventType.CANCELLED if status == "canceled" else EventType.DECLINED
        name = status
    else:
        return None  # open or pending: nothing has happened yet
    changed = payment.get(_CHANGED_AT.get(name, ""))
    return WebhookEvent(
        id=f"{payment['id']}:{name}",  # a replay collapses, a real change comes through
        type=kind,
        reference=payment["id"],
        amount=money.amount,
        currency=money.currency,
        created=_at(changed) if changed else now,
        merchant_reference=mark,
    )


def _line(payment: Json) -> Transaction:
    money, refunded = _money(payment), _refunded(payment)
    status = _LEDGER.get(payment["status"], "pending")
    if status == "captured" and refunded >= money.amount:
        status = "refunded"
    return Transaction(
        reference=payment["id"],
        method=payment.get("method") or "",
        amount=money.amount,
        currency=money.currency,
        status=status,
        captured=money.amount if payment["status"] == "paid" else 0,
        refunded=refunded,
        merchant_reference=_mark(payment) or "",
    )
