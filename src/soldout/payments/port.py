"""The payment-provider port: what soldout asks of a provider, and what it gets back.

A payment is authorized first (the money is reserved on the card), captured once the order
is recorded, and refunded (or, before capture, voided) when no order can be made. A
provider that answers later tells soldout through a webhook.

Two kinds of provider sit behind it. The built-in `test` provider takes a card token in
the request and answers at once. A hosted provider (Stripe Checkout, Mollie) answers
`pending` with a `redirect_url`: the fan pays on the provider's own page, comes back to
`return_url`, and the provider's webhook (or soldout asking, `transaction`) says how it
went. Such an attempt is `abandon`ed when its claim's window closes, so the provider's
page stops taking money; money that comes anyway is refunded when its event arrives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from soldout.domain.money import Money

__all__ = [
    "Authorization",
    "AuthorizationStatus",
    "Deliver",
    "EventType",
    "PaymentProvider",
    "PaymentRequest",
    "Transaction",
    "WebhookEvent",
    "usable_methods",
]

# Payment methods that take one currency only, whichever provider offers them: iDEAL (the
# Netherlands) and Bancontact (Belgium) move euros.
ONLY_IN = {"ideal": frozenset({"EUR"}), "bancontact": frozenset({"EUR"})}


def usable_methods(methods: frozenset[str], currency: str) -> list[str]:
    """Those of a provider's `methods` a payment in `currency` can use, sorted."""
    return sorted(m for m in methods if currency in ONLY_IN.get(m, (currency,)))


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One attempt to pay one claim, as soldout asks a provider for it."""

    method: str
    amount: Money
    reference: str  # soldout's payment id: the provider keeps it with the payment
    idempotency_key: str  # asking again under the same key never charges twice
    token: str = ""  # the test provider's card; a hosted provider's page takes the card
    description: str = ""  # what the fan sees on a hosted page
    return_url: str | None = None  # where a hosted page sends the fan back
    expires_at: datetime | None = None  # the claim's deadline: no money after it

    @property
    def cancel_url(self) -> str | None:
        """Where a hosted page sends a fan who goes back without paying."""
        if self.return_url is None:
            return None
        return self.return_url + ("&" if "?" in self.return_url else "?") + "cancelled=1"


class AuthorizationStatus(StrEnum):
    AUTHORIZED = "authorized"
    PENDING = "pending"  # the outcome comes later, by webhook
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Authorization:
    reference: str  # the provider's id for this payment
    status: AuthorizationStatus
    reason: str | None = None  # why it was declined, in words
    redirect_url: str | None = None  # a hosted provider's page where the fan pays


class EventType(StrEnum):
    AUTHORIZED = "payment.authorized"
    DECLINED = "payment.declined"
    CANCELLED = "payment.cancelled"  # the page was cancelled (by the fan, or by soldout)
    CAPTURED = "payment.captured"
    REFUNDED = "payment.refunded"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str  # unique per event: soldout ignores an id it has already seen
    type: EventType
    reference: str  # the provider's id of the payment
    amount: int  # minor units
    currency: str
    created: datetime  # aware, UTC
    merchant_reference: str  # what soldout passed as `reference` (its own payment id)


@dataclass(frozen=True, slots=True)
class Transaction:
    """One line of the provider's own ledger, for reconciliation."""

    reference: str
    method: str
    amount: int
    currency: str
    status: str  # "authorized" | "captured" | "refunded" | "voided" | "declined" | "pending"
    captured: int  # minor units captured so far
    refunded: int  # minor units refunded so far
    merchant_reference: str  # what soldout passed as `reference` (its own payment id)
    # why the fan's try on the provider's page failed (a card declined); None when nothing
    # was tried there: a page closed untried is given up, a card refused is a decline
    failure: str | None = None


Deliver = Callable[[bytes, Mapping[str, str]], Awaitable[None]]
"""Hands one webhook (its exact body and headers) to soldout."""


class PaymentProvider(Protocol):
    """A payment service. Every money-moving call is safe to repeat.

    Usage: `auth = await provider.authorize(PaymentRequest("test", Money(1000, "EUR"),
    payment_id, payment_id, token="tok_ok"))`.
    """

    name: str
    methods: frozenset[str]
    hosted: bool  # the fan pays on the provider's page (no card token in the request)

    async def authorize(self, request: PaymentRequest) -> Authorization:
        """Reserve the request's amount on the card. The same `idempotency_key` answers
        the same Authorization (its outcome, once known) without a second charge. A
        hosted provider answers `pending` with the `redirect_url` of its page."""
        ...

    async def capture(self, reference: str, amount: Money) -> None:
        """Take the authorized money; raises `PaymentFailed`. Capturing twice is a no-op."""
        ...

    async def refund(self, reference: str, amount: Money, reason: str = "") -> bool:
        """Give the money back: refund a captured payment or void an uncaptured one.
        Refunding twice refunds once; `reason` is kept with the refund at the provider.
        True when money had been taken (it is refunded), False when at most a hold on the
        card was released (the fan's statement never shows a charge)."""
        ...

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        """Give `amount` of a captured payment back while its order stands. Asking again
        with the same `refund_id` (soldout's own, from which the provider's idempotency
        key is derived) refunds once. Raises `InvalidInput` (field `amount`) when the
        provider refuses it: more than captured less refunded, another currency, a payment
        not captured; `PaymentFailed` when it could not be asked (retry)."""
        ...

    async def abandon(self, reference: str) -> None:
        """The fan will not pay through this attempt (its claim expired or was released,
        or they started another): close the provider's page for it. Nothing to do for a
        provider that decides at once. Money that comes anyway arrives as an event and is
        refunded then."""
        ...

    async def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent | None:
        """The event a webhook carries, or None for a genuine one soldout does not act
        on; raises `WebhookRejected` on a missing, wrong or expired signature, an unknown
        payment or a malformed body. A provider whose webhooks are not signed (Mollie)
        asks its API what happened instead. Replays are the caller's to ignore."""
        ...

    def on_webhook(self, deliver: Deliver) -> None:
        """Tell the provider how to reach soldout."""
        ...

    async def transactions(self, since: datetime | None = None) -> Sequence[Transaction]:
        """The provider's ledger (the payments soldout asked for, made at `since` or
        later), oldest first."""
        ...

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        """The ledger line of the payment soldout asked for under `merchant_reference`
        (its own payment id; `reference`, the provider's id, when soldout has it), or
        None if that request never reached the provider."""
        ...

    async def close(self) -> None: ...
