"""Claims (a unit held for a fan until paid or expired) and orders (paid claims).

Claim life cycle: held -> paid | expired | cancelled, and paid -> cancelled when its order
is refunded before it ships (the unit goes back on sale). Only a held claim, or a paid one
whose order is refunded, changes state, so every unit is released exactly once.

Order life cycle: paid -> scheduled (has a ship date) -> shipped, or refunded. Part of its
money may go back before (`refunds`, see `refunds.py`) without changing its status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from soldout.domain.addresses import ShippingAddress
from soldout.domain.money import Money
from soldout.domain.refunds import PartRefund

__all__ = ["Claim", "ClaimState", "Order", "OrderEvent", "OrderStatus"]


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


@dataclass(slots=True)
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
    shipped_at: datetime | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    refunded_at: datetime | None = None
    notified_ship_date: date | None = None  # the ship date the fan was last told
    shipping: ShippingAddress | None = None  # where it ships, as given when it was paid
    # the SKU's cost per unit when it was paid (minor units): a later change of cost leaves
    # the margin of what sold before alone; None if no cost was given then
    unit_cost: int | None = None
    # part refunds, oldest first (a tuple: replaced whole, so a copy never shares a change)
    refunds: tuple[PartRefund, ...] = ()

    @property
    def parts_refunded(self) -> int:
        """Minor units given back by part refunds the provider made."""
        return sum(r.amount for r in self.refunds if r.done)

    @property
    def refunded_amount(self) -> int:
        """Minor units given back: all of it once refunded in full."""
        return self.total if self.status is OrderStatus.REFUNDED else self.parts_refunded

    @property
    def left_to_refund(self) -> int:
        """What a refund may still give back (a part refund still being made counts)."""
        if self.status is OrderStatus.REFUNDED:
            return 0
        return self.total - sum(r.amount for r in self.refunds)

    def pending_refund(self) -> PartRefund | None:
        """A part refund asked of the provider whose answer is not recorded."""
        return next((r for r in self.refunds if not r.done), None)

    def refund_keyed(self, key: str) -> PartRefund | None:
        return next((r for r in self.refunds if r.key == key), None)

    @property
    def in_queue(self) -> bool:
        """Paid, not shipped, not refunded: it holds a place in the fulfilment queue."""
        return self.status in (OrderStatus.PAID, OrderStatus.SCHEDULED)

    def schedule(self, ship_date: date | None) -> None:
        if not self.in_queue:
            raise AssertionError(f"order {self.id} is {self.status}, not in the queue")
        self.ship_date = ship_date
        self.status = OrderStatus.SCHEDULED if ship_date is not None else OrderStatus.PAID

    def ship(self, at: datetime, carrier: str, tracking_number: str | None) -> None:
        if not self.in_queue:
            raise AssertionError(f"order {self.id} is {self.status}, not in the queue")
        self.status, self.shipped_at = OrderStatus.SHIPPED, at
        self.ship_date = at.date()
        self.carrier, self.tracking_number = carrier, tracking_number

    def retrack(self, carrier: str, tracking_number: str) -> None:
        """Set or correct the carrier and tracking number of a shipped order."""
        if self.status is not OrderStatus.SHIPPED:
            raise AssertionError(f"order {self.id} is {self.status}, not shipped")
        self.carrier, self.tracking_number = carrier, tracking_number

    def refund(self, at: datetime) -> None:
        if self.status is OrderStatus.REFUNDED:
            raise AssertionError(f"order {self.id} is already refunded")
        if self.shipped_at is None:
            self.ship_date = None  # it will not ship: no date to show or export
        self.status, self.refunded_at = OrderStatus.REFUNDED, at


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One line of an order's history, as the fan sees it."""

    order_id: str
    at: datetime
    # paid | scheduled | ship_date_changed | shipped | tracking_changed | refunded_part |
    # refunded
    kind: str
    detail: str
