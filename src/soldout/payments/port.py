"""The payment-provider port: what soldout asks of a provider, and what it gets back.

A payment is authorized first (the money is reserved on the card), captured once the order
is recorded, and refunded (or, before capture, voided) when no order can be made. A
provider that answers later tells soldout through a signed webhook.
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
    "Transaction",
    "WebhookEvent",
]


class AuthorizationStatus(StrEnum):
    AUTHORIZED = "authorized"
    PENDING = "pending"  # the outcome comes later, by webhook
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Authorization:
    reference: str  # the provider's id for this payment
    status: AuthorizationStatus
    reason: str | None = None  # why it was declined, in words


class EventType(StrEnum):
    AUTHORIZED = "payment.authorized"
    DECLINED = "payment.declined"
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


Deliver = Callable[[bytes, Mapping[str, str]], Awaitable[None]]
"""Hands one webhook (its exact body and headers) to soldout."""


class PaymentProvider(Protocol):
    """A payment service. Every money-moving call is safe to repeat.

    Usage: `auth = await provider.authorize(method="test", token="tok_ok",
    amount=Money(1000, "EUR"), reference=payment_id, idempotency_key=payment_id)`.
    """

    name: str
    methods: frozenset[str]

    async def authorize(
        self, *, method: str, token: str, amount: Money, reference: str, idempotency_key: str
    ) -> Authorization:
        """Reserve `amount` on the card. The same `idempotency_key` answers the same
        Authorization (its outcome, once known) without a second charge."""
        ...

    async def capture(self, reference: str, amount: Money) -> None:
        """Take the authorized money; raises `PaymentFailed`. Capturing twice is a no-op."""
        ...

    async def refund(self, reference: str, amount: Money) -> None:
        """Give the money back: refund a captured payment or void an uncaptured one.
        Refunding twice refunds once."""
        ...

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent:
        """The event a webhook carries; raises `WebhookRejected` on a missing, wrong or
        expired signature or a malformed body. Replays are the caller's to ignore."""
        ...

    def on_webhook(self, deliver: Deliver) -> None:
        """Tell the provider how to reach soldout."""
        ...

    async def transactions(self) -> Sequence[Transaction]:
        """The provider's ledger, oldest first."""
        ...

    async def transaction(self, merchant_reference: str) -> Transaction | None:
        """The ledger line of the payment soldout asked for under `merchant_reference`
        (its own payment id), or None if that request never reached the provider."""
        ...

    async def close(self) -> None: ...
