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
from datetime import datetime, timedelta
from typing import Any, TypeVar

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
from soldout.domain.money import Money
from soldout.payments.mollie_objects import (
    MARK,
    authorization_of,
    event_of,
    ledger_line,
    mark_of,
    mollie_amount,
    moment,
    money_of,
    refunded_amount,
    webhook_payment_id,
)
from soldout.payments.port import (
    Authorization,
    Deliver,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)

__all__ = ["MolliePayments"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Json = Mapping[str, Any]

_PAGE = 250  # the most Mollie lists at once
_LOOKBACK = timedelta(hours=24)  # how far back `transaction` looks for a lost answer
_BAD_KEY = "Mollie refused the API key: check the Mollie key soldout is configured with"

_API_KEY = re.compile(r"(live|test)_\w+")


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
            "amount": mollie_amount(amount),
            "description": (description or f"Payment {reference}")[:255],
            "redirectUrl": return_url,
            "cancelUrl": request.cancel_url,
            "method": method,
            "metadata": {MARK: reference},
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
        return authorization_of(payment)

    async def capture(self, reference: str, amount: Money) -> None:
        payment = await self._payment(reference)
        if money_of(payment) != amount:
            raise PaymentFailed(f"the Mollie payment is not of {amount}", field="amount")
        status = payment["status"]
        if refunded_amount(payment):
            raise PaymentFailed("the Mollie payment was refunded", field="reference")
        if status == "paid":
            return  # Mollie took the money when the fan paid
        if status != "authorized":
            raise PaymentFailed(f"a {status} Mollie payment cannot be captured", field="reference")
        captures = payment.captures
        body = {"amount": mollie_amount(amount)}
        await self._call(
            lambda: captures.create(body, idempotency_key=f"soldout-{reference}-capture")
        )

    async def refund(self, reference: str, amount: Money, reason: str = "") -> bool:
        payment = await self._payment(reference)
        if money_of(payment) != amount:
            raise InvalidInput(f"the Mollie payment is not of {amount}", field="amount")
        status = payment["status"]
        if status in ("open", "pending", "authorized"):
            if not payment.get("isCancelable"):
                log.info("Mollie payment %s is %s and cannot be canceled yet", reference, status)
                return False  # a later `paid` event is refunded then: its claim is no longer held
            if await self._cancel(reference):
                return False
            payment = await self._payment(reference)  # it moved on meanwhile
            status = payment["status"]
        if status != "paid":
            return False  # failed, canceled or expired: no money was taken
        left = amount.amount - refunded_amount(payment)
        if left <= 0:
            return True
        body: dict[str, Any] = {"amount": mollie_amount(Money(left, amount.currency))}
        if reason:
            body["description"] = reason[:140]
        refunds = payment.refunds
        await self._call(
            lambda: refunds.create(body, idempotency_key=f"soldout-{reference}-refund")
        )
        return True

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        """A refund of `amount`, under an idempotency key from soldout's refund id (Mollie
        replays the first answer to a retry; it refuses more than is left with 422)."""
        payment = await self._payment(reference)
        body: dict[str, Any] = {"amount": mollie_amount(amount)}
        if reason:
            body["description"] = reason[:140]
        refunds = payment.refunds
        try:
            await self._call(
                lambda: refunds.create(body, idempotency_key=f"soldout-{refund_id}-refund"),
                keep=(UnprocessableEntityError,),
            )
        except UnprocessableEntityError as refused:
            raise InvalidInput(f"Mollie refused the refund: {refused}", field="amount") from None

    async def abandon(self, reference: str) -> None:
        payment = await self._payment(reference)
        if payment.get("isCancelable"):
            await self._cancel(reference)

    # -- being told, and asking ----------------------------------------------------
    async def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent | None:
        del headers  # a classic Mollie webhook is not signed: the API is asked instead
        payment_id = webhook_payment_id(body)
        try:
            payment = await self._call(
                lambda: self._client.payments.get(payment_id), keep=(NotFoundError,)
            )
        except NotFoundError:
            raise WebhookRejected("Mollie knows no such payment", field="id") from None
        return event_of(payment, now)

    def on_webhook(self, deliver: Deliver) -> None:
        """Nothing to do: Mollie posts its webhooks to `webhook_url` over HTTP."""

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        if reference is not None:
            known = await self._payment(reference)
            if mark_of(known) == merchant_reference:
                return ledger_line(known)
            log.warning("Mollie payment %s is not soldout's %s", reference, merchant_reference)
        since = self._clock.now() - _LOOKBACK
        async for payment in self._newest_first(since):
            if mark_of(payment) == merchant_reference:
                return ledger_line(payment)
        return None

    async def transactions(self, since: datetime | None = None) -> list[Transaction]:
        lines = [ledger_line(p) async for p in self._newest_first(since) if mark_of(p) is not None]
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
                if since is not None and moment(payment["createdAt"]) < since:
                    return
                yield payment
            if not page.get("_links", {}).get("next"):
                return
            page = await self._call(page.get_next)


# -- Mollie's objects, read --------------------------------------------------------
