"""Stripe, through hosted Checkout Sessions with manual capture (the official `stripe` SDK).

`authorize` opens a Checkout Session and answers `pending` with its page; the fan pays
there, Stripe reserves the money (a PaymentIntent in `requires_capture`) and sends
`checkout.session.completed`, which `verify_webhook` turns into `payment.authorized`
with the PaymentIntent's id (`pi_...`) as the reference soldout captures and refunds.
Until then soldout holds the session's id (`cs_...`); every method takes either.

Each money-moving call carries a Stripe idempotency key made from soldout's payment id
(`soldout-<payment>-session|capture|cancel|refund`; a part refund's from soldout's refund id,
`soldout-<refund>-refund`), so a retry, by soldout or by the
SDK after a timeout, never moves money twice. The API key never appears in a message.

Usage: `StripePayments(settings.stripe_key, settings.stripe_webhook_secret)`; Stripe
posts its webhooks to `/api/v1/payments/webhooks/stripe`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import stripe

from soldout.domain.errors import (
    InvalidInput,
    PaymentFailed,
    WebhookRejected,
)
from soldout.domain.money import Money
from soldout.payments.port import (
    Authorization,
    AuthorizationStatus,
    Deliver,
    EventType,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)
from soldout.payments.stripe_objects import (
    AUTHORIZING,
    FAILING,
    LOOKBACK,
    PAGE,
    PAYMENT_KEY,
    UNPAID,
    Missing,
    PooledHTTPXClient,
    calling,
    declined_event,
    idempotency_key_for,
    ledger_line,
    merchant_of,
    merchant_of_session,
    refunded_amount,
    same_amount,
    session_expiry,
)
from soldout.payments.stripe_units import from_stripe, to_stripe

__all__ = ["StripePayments"]

log = logging.getLogger(__name__)


class StripePayments:
    """The `stripe` provider. `api_base` points the SDK elsewhere (a local fake)."""

    name = "stripe"
    methods = frozenset({"card"})
    hosted = True

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        if not api_key.startswith(("sk_", "rk_")):
            raise ValueError("the Stripe API key must be a secret (sk_) or restricted (rk_) key")
        if not webhook_secret.startswith("whsec_"):
            raise ValueError("the Stripe webhook signing secret must start with whsec_")
        self._secret = webhook_secret
        # The SDK would keep an id in ~/.config/stripe and report call timings to Stripe.
        stripe.enable_telemetry = False
        self._http = PooledHTTPXClient(timeout=timeout)
        self._stripe = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=2,
        ).v1

    # -- paying ------------------------------------------------------------------------
    async def authorize(self, request: PaymentRequest) -> Authorization:
        """A Checkout Session for the amount: `pending`, with its page as `redirect_url`
        (the card is typed on Stripe's page: no token)."""
        method, amount, reference = request.method, request.amount, request.reference
        return_url, description = request.return_url, request.description
        if method not in self.methods:
            raise InvalidInput(f"unknown payment method {method!r}; use 'card'", field="method")
        if return_url is None:
            raise InvalidInput("Stripe Checkout needs a return_url", field="return_url")
        if amount.amount <= 0:
            raise InvalidInput("the amount must be positive", field="amount")
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": amount.currency.lower(),
                        "unit_amount": to_stripe(amount),  # (refuses what Stripe would)
                        "product_data": {"name": description or "Order"},
                    },
                    "quantity": 1,
                }
            ],
            "allowed_payment_method_types": ["card"],
            "payment_intent_data": {
                "capture_method": "manual",
                "metadata": {PAYMENT_KEY: reference},
            },
            "client_reference_id": reference,
            "metadata": {PAYMENT_KEY: reference},
            "success_url": return_url,
            "cancel_url": request.cancel_url or return_url,
        }
        closes = session_expiry(request.expires_at)
        if closes is not None:
            params["expires_at"] = closes
        with calling("open a payment page", refusal=InvalidInput):
            session = await self._stripe.checkout.sessions.create_async(
                params, {"idempotency_key": f"soldout-{request.idempotency_key}-session"}
            )
        return Authorization(session.id, AuthorizationStatus.PENDING, redirect_url=session.url)

    async def capture(self, reference: str, amount: Money) -> None:
        intent = await self._intent(reference)
        if intent is None:
            raise PaymentFailed("nothing was paid on this Stripe page", field="reference")
        same_amount(intent.amount, intent.currency, amount)
        if intent.status == "succeeded":
            return
        if intent.status != "requires_capture":
            raise PaymentFailed(
                f"a Stripe payment that is {intent.status} cannot be captured", field="reference"
            )
        with calling("capture the payment"):
            await self._stripe.payment_intents.capture_async(
                intent.id, options={"idempotency_key": idempotency_key_for(intent, "capture")}
            )

    async def refund(self, reference: str, amount: Money, reason: str = "") -> bool:
        """Refund a captured payment, void an authorized one, close an open page; a
        payment already refunded, voided or never paid needs nothing. Whether money had
        been taken (a refund, not a hold released)."""
        if reference.startswith("cs_"):
            session = await self._session(reference)
            same_amount(session.amount_total or 0, session.currency or "", amount)
            if session.status == "open" and await self._expire(session.id):
                return False
        intent = await self._intent(reference)  # a session: it completed or expired
        if intent is None:
            return False  # nothing was paid
        same_amount(intent.amount, intent.currency, amount)
        if intent.status == "requires_capture":
            with calling("void the payment"):
                await self._stripe.payment_intents.cancel_async(
                    intent.id, options={"idempotency_key": idempotency_key_for(intent, "cancel")}
                )
        elif intent.status in UNPAID:
            # Stripe refuses to cancel the intent of an open session: close the page.
            with calling("find the payment page"):
                found = await self._stripe.checkout.sessions.list_async(
                    {"payment_intent": intent.id, "limit": 1}
                )
            for session in found.data:
                await self._expire(session.id)
        elif intent.status == "succeeded":
            await self._refund_captured(intent, reason)
            return True
        return False

    async def _refund_captured(self, intent: stripe.PaymentIntent, reason: str) -> None:
        left = intent.amount_received - refunded_amount(intent)
        if left <= 0:
            return
        with calling("refund the payment"):
            await self._stripe.refunds.create_async(
                {
                    "payment_intent": intent.id,
                    "amount": left,
                    "reason": "requested_by_customer",
                    "metadata": {PAYMENT_KEY: merchant_of(intent) or "", "reason": reason[:500]},
                },
                {"idempotency_key": idempotency_key_for(intent, "refund")},
            )

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        """A Refund of `amount` (Stripe checks it against what is left: a retry under the
        same key replays the first answer, however much is left since)."""
        intent = await self._intent(reference)
        if intent is None or intent.currency.upper() != amount.currency:
            raise InvalidInput(f"no Stripe payment in {amount.currency} to refund", field="amount")
        try:
            with calling("refund part of the payment", refusal=InvalidInput):
                await self._stripe.refunds.create_async(
                    {
                        "payment_intent": intent.id,
                        "amount": to_stripe(amount),
                        "reason": "requested_by_customer",
                        "metadata": {
                            PAYMENT_KEY: merchant_of(intent) or "",
                            "refund": refund_id,
                            "reason": reason[:500],
                        },
                    },
                    {"idempotency_key": f"soldout-{refund_id}-refund"},
                )
        except InvalidInput as refused:
            raise InvalidInput(refused.message, field="amount") from refused

    async def abandon(self, reference: str) -> None:
        """Close an open Checkout Session; a session already closed (or paid) is left."""
        if reference.startswith("cs_"):
            await self._expire(reference)

    # -- webhooks ----------------------------------------------------------------------
    async def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent | None:
        """Checked by the SDK against the signing secret and the real time (five minutes'
        tolerance, Stripe's own; `now` is not used)."""
        del now
        signature = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        try:
            event = stripe.Webhook.construct_event(body, signature, self._secret)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(
                f"the Stripe signature does not hold: {error.user_message}",
                field="Stripe-Signature",
            ) from None
        except ValueError:
            raise WebhookRejected("the Stripe webhook body is not an event", field="body") from None
        try:
            kind, obj = str(event.type), event.data.object.to_dict()
            created = datetime.fromtimestamp(event.created, UTC)
        except (AttributeError, KeyError, TypeError):
            raise WebhookRejected("the Stripe webhook body is not an event", field="body") from None
        if kind in AUTHORIZING:
            return await self._authorized(event.id, obj, created)
        if kind in FAILING:
            return declined_event(event.id, obj, created)
        if kind == "charge.refunded":
            return await self._refunded_event(event.id, obj, created)
        return None

    async def _authorized(
        self, event_id: str, session: Mapping[str, object], created: datetime
    ) -> WebhookEvent | None:
        merchant = merchant_of_session(session)
        intent_id = session.get("payment_intent")
        if merchant is None or not isinstance(intent_id, str):
            return None  # not a session soldout opened, or nothing to pay
        intent = await self._intent(intent_id)
        if intent is None or intent.status not in ("requires_capture", "succeeded"):
            return None
        return WebhookEvent(
            event_id,
            EventType.AUTHORIZED,
            intent.id,
            from_stripe(intent.amount, intent.currency),
            intent.currency.upper(),
            created,
            merchant,
        )

    async def _refunded_event(
        self, event_id: str, charge: Mapping[str, object], created: datetime
    ) -> WebhookEvent | None:
        intent_id = charge.get("payment_intent")
        if not isinstance(intent_id, str):
            return None
        if not charge.get("refunded"):
            # (soldout's own part refunds, or one made in Stripe's dashboard)
            log.info("a Stripe charge of %s was refunded in part", intent_id)
            return None
        intent = await self._intent(intent_id)
        merchant = None if intent is None else merchant_of(intent)
        if intent is None or merchant is None:
            return None
        return WebhookEvent(
            event_id,
            EventType.REFUNDED,
            intent.id,
            from_stripe(intent.amount, intent.currency),
            intent.currency.upper(),
            created,
            merchant,
        )

    def on_webhook(self, deliver: Deliver) -> None:
        """Nothing to do: Stripe posts to soldout's webhook route itself."""

    # -- the ledger --------------------------------------------------------------------
    async def transactions(self, since: datetime | None = None) -> list[Transaction]:
        """The PaymentIntents soldout's sessions made (paged through, 100 at a time)."""
        params: stripe.params.PaymentIntentListParams = {
            "limit": PAGE,
            "expand": ["data.latest_charge"],
        }
        if since is not None:
            params["created"] = {"gte": int(since.timestamp())}
        found: list[tuple[int, Transaction]] = []
        with calling("list payments"):
            page = await self._stripe.payment_intents.list_async(params)
            async for intent in page.auto_paging_iter():
                merchant = merchant_of(intent)
                if merchant is not None:
                    found.append((intent.created, ledger_line(merchant, None, intent)))
        found.reverse()  # Stripe lists the newest first
        return [line for _, line in sorted(found, key=lambda pair: pair[0])]

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        """Without `reference`, found among the sessions of the last 24 hours (the longest
        a session lives); None if there is none."""
        try:
            if reference is not None and reference.startswith("pi_"):
                return ledger_line(merchant_reference, None, await self._intent(reference))
            if reference is not None:
                session: stripe.checkout.Session | None = await self._session(reference)
            else:
                session = await self._find_session(merchant_reference)
        except Missing:
            return None
        if session is None:
            return None
        paid = session.payment_intent
        return ledger_line(
            merchant_reference, session, paid if isinstance(paid, stripe.PaymentIntent) else None
        )

    async def _find_session(self, merchant_reference: str) -> stripe.checkout.Session | None:
        since = datetime.now(UTC) - LOOKBACK
        with calling("look up the payment"):
            page = await self._stripe.checkout.sessions.list_async(
                {
                    "created": {"gte": int(since.timestamp())},
                    "limit": PAGE,
                    "expand": ["data.payment_intent.latest_charge"],
                }
            )
            async for session in page.auto_paging_iter():
                if session.client_reference_id == merchant_reference:
                    return session
        return None

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # -- internals ---------------------------------------------------------------------
    async def _session(self, session_id: str) -> stripe.checkout.Session:
        with calling("look up the payment page"):
            return await self._stripe.checkout.sessions.retrieve_async(
                session_id, {"expand": ["payment_intent.latest_charge"]}
            )

    async def _intent(self, reference: str) -> stripe.PaymentIntent | None:
        """The PaymentIntent of a `pi_` or `cs_` reference (None: nothing paid yet)."""
        if reference.startswith("cs_"):
            intent = (await self._session(reference)).payment_intent
            return intent if isinstance(intent, stripe.PaymentIntent) else None
        with calling("look up the payment"):
            return await self._stripe.payment_intents.retrieve_async(
                reference, {"expand": ["latest_charge"]}
            )

    async def _expire(self, session_id: str) -> bool:
        """Close an open session; False if it was no longer open (or never existed)."""
        try:
            with calling("close the payment page", refusal=InvalidInput):
                await self._stripe.checkout.sessions.expire_async(session_id)
        except (InvalidInput, Missing):
            return False
        return True
