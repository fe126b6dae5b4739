"""Stripe's objects as soldout reads them, its errors as soldout's, and the HTTP client the
SDK talks through: what `stripe_provider.py` needs besides its calls.
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
)
from soldout.domain.money import Money
from soldout.payments.port import EventType, Transaction, WebhookEvent
from soldout.payments.stripe_units import from_stripe

__all__ = [
    "AUTHORIZING",
    "FAILING",
    "LOOKBACK",
    "PAGE",
    "PAYMENT_KEY",
    "UNPAID",
    "Missing",
    "PooledHTTPXClient",
    "calling",
    "declined_event",
    "idempotency_key_for",
    "ledger_line",
    "merchant_of",
    "merchant_of_session",
    "refunded_amount",
    "same_amount",
    "session_expiry",
]

log = logging.getLogger(__name__)

PAYMENT_KEY = "soldout_payment"  # metadata on the session and its PaymentIntent: soldout's id
SESSION_GRACE = timedelta(minutes=31)  # Stripe keeps a session open 30 min at least ...
SESSION_LONGEST = timedelta(hours=24)  # ... and 24 h at most
LOOKBACK = timedelta(hours=24)  # a session soldout may still ask about is younger than this
PAGE = 100  # Stripe's largest page
UNPAID = {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
AUTHORIZING = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
FAILING = {"checkout.session.async_payment_failed", "checkout.session.expired"}


class Missing(PaymentFailed):
    """Stripe has no such object (HTTP 404)."""


@contextlib.contextmanager
def calling(what: str, *, refusal: type[DomainError] = PaymentFailed) -> Iterator[None]:
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
            raise Missing(f"Stripe has no such payment ({what})", field="reference") from error
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


def session_expiry(expires_at: datetime | None) -> int | None:
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


def same_amount(amount: int, currency: str, asked: Money) -> None:
    """Stripe's `amount` in `currency` (its units) is `asked`, or `InvalidInput`."""
    ours = Money(from_stripe(amount, currency), currency.upper())
    if (ours.amount, ours.currency) != (asked.amount, asked.currency):
        raise InvalidInput(f"the amount must be the payment's {ours}", field="amount")


def idempotency_key_for(intent: stripe.PaymentIntent, action: str) -> str:
    return f"soldout-{merchant_of(intent) or intent.id}-{action}"


def merchant_of(intent: stripe.PaymentIntent) -> str | None:
    metadata = intent.metadata
    return str(metadata[PAYMENT_KEY]) if metadata and PAYMENT_KEY in metadata else None


def merchant_of_session(session: Mapping[str, object]) -> str | None:
    metadata = session.get("metadata")
    found = metadata.get(PAYMENT_KEY) if isinstance(metadata, Mapping) else None
    found = found or session.get("client_reference_id")
    return str(found) if found else None


def refunded_amount(intent: stripe.PaymentIntent) -> int:
    charge = intent.latest_charge
    return charge.amount_refunded if isinstance(charge, stripe.Charge) else 0


def declined_event(
    event_id: str, session: Mapping[str, object], created: datetime
) -> WebhookEvent | None:
    merchant = merchant_of_session(session)
    if merchant is None:
        return None
    intent, amount = session.get("payment_intent"), session.get("amount_total")
    return WebhookEvent(
        event_id,
        EventType.DECLINED,
        intent if isinstance(intent, str) else str(session["id"]),
        from_stripe(amount, str(session.get("currency") or "")) if isinstance(amount, int) else 0,
        str(session.get("currency") or "").upper(),
        created,
        merchant,
    )


def _failure(intent: stripe.PaymentIntent) -> str | None:
    """Why the fan's last try failed (a card declined, 3-D Secure failed), if one did."""
    error = getattr(intent, "last_payment_error", None)
    if not error:
        return None
    return str(getattr(error, "message", None) or getattr(error, "code", None) or "declined")


def ledger_line(
    merchant: str, session: stripe.checkout.Session | None, intent: stripe.PaymentIntent | None
) -> Transaction:
    """A session or PaymentIntent as a ledger line: the intent's id once there is one."""
    status, captured, refunded = "pending", 0, 0
    if session is not None and session.status == "expired":
        status = "declined"
    elif intent is not None and intent.status == "requires_capture":
        status = "authorized"
    elif intent is not None and intent.status == "succeeded":
        captured, refunded = intent.amount_received, refunded_amount(intent)
        status = "refunded" if refunded >= captured > 0 else "captured"
    elif intent is not None and intent.status == "canceled":
        status = "voided"
    if intent is not None:
        ours = intent.currency
        return Transaction(
            intent.id,
            "card",
            from_stripe(intent.amount, ours),
            ours.upper(),
            status,
            from_stripe(captured, ours),
            from_stripe(refunded, ours),
            merchant,
            _failure(intent),
        )
    assert session is not None
    return Transaction(
        session.id,
        "card",
        from_stripe(session.amount_total or 0, session.currency or ""),
        (session.currency or "").upper(),
        status,
        0,
        0,
        merchant,
    )


class Pools(httpx.AsyncBaseTransport):
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


class PooledHTTPXClient(stripe.HTTPXClient):
    """The SDK's own HTTPX client, its async client over `Pools` (it makes one
    `httpx.AsyncClient` with default limits and offers no way to pass a transport)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self._client_async = httpx.AsyncClient(transport=Pools(verify))
