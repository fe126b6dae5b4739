"""Stripe, through hosted Checkout Sessions with manual capture (the official `stripe` SDK).

`authorize` opens a Checkout Session and answers `pending` with its page; the fan pays
there, Stripe reserves the money (a PaymentIntent in `requires_capture`) and sends
`checkout.session.completed`, which `verify_webhook` turns into `payment.authorized`
with the PaymentIntent's id (`pi_...`) as the reference soldout captures and refunds.
Until then soldout holds the session's id (`cs_...`); every method takes either.

Each money-moving call carries a Stripe idempotency key made from soldout's payment id
(`soldout-<payment>-session|capture|cancel|refund`), so a retry, by soldout or by the
SDK after a timeout, never moves money twice. The API key never appears in a message.

Usage: `StripePayments(settings.stripe_key, settings.stripe_webhook_secret)`; Stripe
posts its webhooks to `/api/v1/payments/webhooks/stripe`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import ssl
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
import stripe

from soldout.domain.errors import (
    DomainError,
    IdempotencyKeyReused,
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

__all__ = ["StripePayments"]

log = logging.getLogger(__name__)

PAYMENT_KEY = "soldout_payment"  # metadata on the session and its PaymentIntent: soldout's id
SESSION_GRACE = timedelta(minutes=31)  # Stripe keeps a session open 30 min at least ...
SESSION_LONGEST = timedelta(hours=24)  # ... and 24 h at most
LOOKBACK = timedelta(hours=24)  # a session soldout may still ask about is younger than this
PAGE = 100  # Stripe's largest page
_UNPAID = {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
_AUTHORIZING = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
_FAILING = {"checkout.session.async_payment_failed", "checkout.session.expired"}


class _Missing(PaymentFailed):
    """Stripe has no such object (HTTP 404)."""


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
        self._http = _PooledHTTPXClient(timeout=timeout)
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
                        "unit_amount": amount.amount,
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
        closes = _session_expiry(request.expires_at)
        if closes is not None:
            params["expires_at"] = closes
        with _calling("open a payment page", refusal=InvalidInput):
            session = await self._stripe.checkout.sessions.create_async(
                params, {"idempotency_key": f"soldout-{request.idempotency_key}-session"}
            )
        return Authorization(session.id, AuthorizationStatus.PENDING, redirect_url=session.url)

    async def capture(self, reference: str, amount: Money) -> None:
        intent = await self._intent(reference)
        if intent is None:
            raise PaymentFailed("nothing was paid on this Stripe page", field="reference")
        _same_amount(intent.amount, intent.currency, amount)
        if intent.status == "succeeded":
            return
        if intent.status != "requires_capture":
            raise PaymentFailed(
                f"a Stripe payment that is {intent.status} cannot be captured", field="reference"
            )
        with _calling("capture the payment"):
            await self._stripe.payment_intents.capture_async(
                intent.id, options={"idempotency_key": _key(intent, "capture")}
            )

    async def refund(self, reference: str, amount: Money, reason: str = "") -> None:
        """Refund a captured payment, void an authorized one, close an open page; a
        payment already refunded, voided or never paid needs nothing."""
        if reference.startswith("cs_"):
            session = await self._session(reference)
            _same_amount(session.amount_total or 0, session.currency or "", amount)
            if session.status == "open" and await self._expire(session.id):
                return
        intent = await self._intent(reference)  # a session: it completed or expired
        if intent is None:
            return  # nothing was paid
        _same_amount(intent.amount, intent.currency, amount)
        if intent.status == "requires_capture":
            with _calling("void the payment"):
                await self._stripe.payment_intents.cancel_async(
                    intent.id, options={"idempotency_key": _key(intent, "cancel")}
                )
        elif intent.status in _UNPAID:
            # Stripe refuses to cancel the intent of an open session: close the page.
            with _calling("find the payment page"):
                found = await self._stripe.checkout.sessions.list_async(
                    {"payment_intent": intent.id, "limit": 1}
                )
            for session in found.data:
                await self._expire(session.id)
        elif intent.status == "succeeded":
            await self._refund_captured(intent, reason)

    async def _refund_captured(self, intent: stripe.PaymentIntent, reason: str) -> None:
        left = intent.amount_received - _refunded(intent)
        if left <= 0:
            return
        with _calling("refund the payment"):
            await self._stripe.refunds.create_async(
                {
                    "payment_intent": intent.id,
                    "amount": left,
                    "reason": "requested_by_customer",
                    "metadata": {PAYMENT_KEY: _merchant(intent) or "", "reason": reason[:500]},
                },
                {"idempotency_key": _key(intent, "refund")},
            )

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
        if kind in _AUTHORIZING:
            return await self._authorized(event.id, obj, created)
        if kind in _FAILING:
            return _declined(event.id, obj, created)
        if kind == "charge.refunded":
            return await self._refunded_event(event.id, obj, created)
        return None

    async def _authorized(
        self, event_id: str, session: Mapping[str, object], created: datetime
    ) -> WebhookEvent | None:
        merchant = _merchant_of_session(session)
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
            intent.amount,
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
            log.warning("a Stripe charge of %s was refunded in part; refund the rest", intent_id)
            return None
        intent = await self._intent(intent_id)
        merchant = None if intent is None else _merchant(intent)
        if intent is None or merchant is None:
            return None
        return WebhookEvent(
            event_id,
            EventType.REFUNDED,
            intent.id,
            intent.amount,
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
        with _calling("list payments"):
            page = await self._stripe.payment_intents.list_async(params)
            async for intent in page.auto_paging_iter():
                merchant = _merchant(intent)
                if merchant is not None:
                    found.append((intent.created, _line(merchant, None, intent)))
        found.reverse()  # Stripe lists the newest first
        return [line for _, line in sorted(found, key=lambda pair: pair[0])]

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        """Without `reference`, found among the sessions of the last 24 hours (the longest
        a session lives); None if there is none."""
        try:
            if reference is not None and reference.startswith("pi_"):
                return _line(merchant_reference, None, await self._intent(reference))
            if reference is not None:
                session: stripe.checkout.Session | None = await self._session(reference)
            else:
                session = await self._find_session(merchant_reference)
        except _Missing:
            return None
        if session is None:
            return None
        paid = session.payment_intent
        return _line(
            merchant_reference, session, paid if isinstance(paid, stripe.PaymentIntent) else None
        )

    async def _find_session(self, merchant_reference: str) -> stripe.checkout.Session | None:
        since = datetime.now(UTC) - LOOKBACK
        with _calling("look up the payment"):
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
        with _calling("look up the payment page"):
            return await self._stripe.checkout.sessions.retrieve_async(
                session_id, {"expand": ["payment_intent.latest_charge"]}
            )

    async def _intent(self, reference: str) -> stripe.PaymentIntent | None:
        """The PaymentIntent of a `pi_` or `cs_` reference (None: nothing paid yet)."""
        if reference.startswith("cs_"):
            intent = (await self._session(reference)).payment_intent
            return intent if isinstance(intent, stripe.PaymentIntent) else None
        with _calling("look up the payment"):
            return await self._stripe.payment_intents.retrieve_async(
                reference, {"expand": ["latest_charge"]}
            )

    async def _expire(self, session_id: str) -> bool:
        """Close an open session; False if it was no longer open (or never existed)."""
        try:
            with _calling("close the payment page", refusal=InvalidInput):
                await self._stripe.checkout.sessions.expire_async(session_id)
        except (InvalidInput, _Missing):
            return False
        return True


@contextlib.contextmanager
def _calling(what: str, *, refusal: type[DomainError] = PaymentFailed) -> Iterator[None]:
    """Stripe's errors as soldout's: a refused request is `refusal` (`InvalidInput` with
    the parameter at fault), anything else `PaymentFailed`. Messages are Stripe's own
    words at most, never the key (Stripe's own error, kept as the cause, has none either)."""
    try:
        yield
    except stripe.IdempotencyError as error:
        raise IdempotencyKeyReused(
            f"Stripe was asked to {what} before with other details", field="idempotency_key"
        ) from error
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            raise _Missing(f"Stripe has no such payment ({what})", field="reference") from error
        message = f"Stripe refused to {what}: {error.user_message}"
        if refusal is InvalidInput:
            raise InvalidInput(message, field=error.param or None) from error
        raise refusal(message) from error
    except stripe.AuthenticationError as error:
        raise PaymentFailed(
            "Stripe refused the API key (HTTP 401): check the configured secret key"
        ) from error
    except stripe.PermissionError as error:
        raise PaymentFailed(f"the Stripe API key may not {what} (HTTP 403)") from error
    except stripe.APIConnectionError as error:
        raise PaymentFailed(f"Stripe could not be reached to {what}; retry") from error
    except stripe.StripeError as error:
        raise PaymentFailed(f"Stripe failed to {what} (HTTP {error.http_status})") from error


def _session_expiry(expires_at: datetime | None) -> int | None:
    """When the session closes itself: 31 minutes after the claim's deadline (Stripe wants
    30 at least; soldout closes the page at the deadline with `abandon`). It depends on the
    deadline alone, so a retry sends the same parameters under the same idempotency key
    (`now + 31 min` would differ, and Stripe refuse it). None: Stripe's 24 hours."""
    if expires_at is None:
        return None
    closes = expires_at + SESSION_GRACE
    if closes > datetime.now(UTC) + SESSION_LONGEST - timedelta(minutes=5):
        return None
    return int(closes.timestamp())


def _same_amount(amount: int, currency: str, asked: Money) -> None:
    if (amount, currency.upper()) != (asked.amount, asked.currency):
        raise InvalidInput(
            f"the amount must be the payment's {amount} {currency.upper()}", field="amount"
        )


def _key(intent: stripe.PaymentIntent, action: str) -> str:
    return f"soldout-{_merchant(intent) or intent.id}-{action}"


def _merchant(intent: stripe.PaymentIntent) -> str | None:
    metadata = intent.metadata
    return str(metadata[PAYMENT_KEY]) if metadata and PAYMENT_KEY in metadata else None


def _merchant_of_session(session: Mapping[str, object]) -> str | None:
    metadata = session.get("metadata")
    found = metadata.get(PAYMENT_KEY) if isinstance(metadata, Mapping) else None
    found = found or session.get("client_reference_id")
    return str(found) if found else None


def _refunded(intent: stripe.PaymentIntent) -> int:
    charge = intent.latest_charge
    return charge.amount_refunded if isinstance(charge, stripe.Charge) else 0


def _declined(
    event_id: str, session: Mapping[str, object], created: datetime
) -> WebhookEvent | None:
    merchant = _merchant_of_session(session)
    if merchant is None:
        return None
    intent, amount = session.get("payment_intent"), session.get("amount_total")
    return WebhookEvent(
        event_id,
        EventType.DECLINED,
        intent if isinstance(intent, str) else str(session["id"]),
        amount if isinstance(amount, int) else 0,
        str(session.get("currency") or "").upper(),
        created,
        merchant,
    )


def _line(
    merchant: str, session: stripe.checkout.Session | None, intent: stripe.PaymentIntent | None
) -> Transaction:
    """A session or PaymentIntent as a ledger line: the intent's id once there is one."""
    status, captured, refunded = "pending", 0, 0
    if session is not None and session.status == "expired":
        status = "declined"
    elif intent is not None and intent.status == "requires_capture":
        status = "authorized"
    elif intent is not None and intent.status == "succeeded":
        captured, refunded = intent.amount_received, _refunded(intent)
        status = "refunded" if refunded >= captured > 0 else "captured"
    elif intent is not None and intent.status == "canceled":
        status = "voided"
    if intent is not None:
        return Transaction(
            intent.id,
            "card",
            intent.amount,
            intent.currency.upper(),
            status,
            captured,
            refunded,
            merchant,
        )
    assert session is not None
    return Transaction(
        session.id,
        "card",
        session.amount_total or 0,
        (session.currency or "").upper(),
        status,
        0,
        0,
        merchant,
    )


class _Pools(httpx.AsyncBaseTransport):
    """Calls spread over small connection pools. httpcore's pool does work in proportion
    to its connections at every request and answer, so one pool of hundreds (hundreds of
    fans' payments waiting on Stripe at a launch) would take the sale's event loop."""

    def __init__(self, verify: ssl.SSLContext, pools: int = 16, size: int = 32) -> None:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._pools = [httpx.AsyncHTTPTransport(verify=verify, limits=limits) for _ in range(pools)]
        self._turn = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _PooledHTTPXClient(stripe.HTTPXClient):
    """The SDK's own HTTPX client, its async client over `_Pools` (it makes one
    `httpx.AsyncClient` with default limits and offers no way to pass a transport)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self._client_async = httpx.AsyncClient(transport=_Pools(verify))
