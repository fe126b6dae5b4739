"""Claims (a unit held for a fan until paid or expired) and orders (paid claims).

Claim life cycle: held -> paid | expired | cancelled. Only a held claim changes state, so
expiry and cancellation release a unit exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from soldout.domain.money import Money

__all__ = ["Claim", "ClaimState", "Order", "OrderStatus"]


class ClaimState(StrEnum):
    HELD = "held"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class OrderStatus(StrEnum):
    PAID = "paid"
    SCHEDULED = "scheduled"
    SHIPPED = "shipped"
    REFUNDED = "refunded"


@dataclass(slots=True)
class Claim:
    id: str
    launch_id: str
    fan_id: str
    sku: str
    quantity: int
    unit_price: int
    currency: str
    created_at: datetime
    expires_at: datetime
    idempotency_key: str
    priority_code: str | None = None
    state: ClaimState = ClaimState.HELD
    closed_at: datetime | None = None

    @property
    def total(self) -> Money:
        return Money(self.unit_price, self.currency).times(self.quantity)

    @property
    def total_amount(self) -> int:
        """The total in minor units, fixed at claim time (the price was copied then)."""
        return self.unit_price * self.quantity

    @property
    def is_held(self) -> bool:
        return self.state is ClaimState.HELD

    def same_request(
        self, launch_id: str, sku: str, quantity: int, priority_code: str | None
    ) -> bool:
        """Whether a retry under this claim's Idempotency-Key asks for the same thing."""
        return (self.launch_id, self.sku, self.quantity, self.priority_code) == (
            launch_id,
            sku,
            quantity,
            priority_code,
        )

    def is_overdue(self, now: datetime) -> bool:
        return self.state is ClaimState.HELD and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    claim_id: str
    launch_id: str
    fan_id: str
    sku: str
    quantity: int
    total: int
    currency: str
    paid_at: datetime
    payment_method: str
    payment_reference: str
    idempotency_key: str
    status: OrderStatus = OrderStatus.PAID
    ship_date: date | None = None
