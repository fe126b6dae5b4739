"""The ports: one narrow interface per aggregate.

Every write returns only once it is durable: an adapter may group many writes into one
transaction (group commit), but it never resolves a write before its commit. Writes are
applied in the order they were issued, so a release that freed a unit is never durable
after the claim that took the unit again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Fan, Reservation
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.launches import Launch
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product

__all__ = [
    "AuditRepository",
    "ClaimRepository",
    "CodeRepository",
    "ExportRow",
    "FanRepository",
    "LaunchRepository",
    "NotificationRepository",
    "OrderFilter",
    "OrderRepository",
    "PaymentRepository",
    "PlanRepository",
    "ProductRepository",
    "ReservationRepository",
    "Store",
]


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None: ...
    async def get(self, product_id: str) -> Product | None: ...
    async def all(self) -> Sequence[Product]: ...


class LaunchRepository(Protocol):
    async def add(self, launch: Launch) -> None: ...
    def update(self, launch: Launch) -> asyncio.Future[None]:
        """Queued at once (not when awaited), like the claim writes below: writes queued
        in the same tick of the event loop commit in one transaction, in order."""

    async def all(self) -> Sequence[Launch]: ...


class FanRepository(Protocol):
    async def add(self, fan: Fan) -> None:
        """Raise `soldout.domain.errors.Conflict` (code `email_taken`) on a duplicate e-mail."""

    async def get(self, fan_id: str) -> Fan | None: ...
    async def by_email(self, email: str) -> Fan | None:
        """`email` normalised (see `domain.fans.normalise_email`)."""

    async def by_referral_code(self, code: str) -> Fan | None: ...
    async def referral_pairs(self) -> Sequence[tuple[str, str]]:
        """(fan, the fan who referred them) for every referred fan."""

    async def contacts(self) -> Sequence[tuple[str, str | None, str | None]]:
        """(fan, address, phone) for every fan who gave either."""


class ReservationRepository(Protocol):
    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        """Queued at once; a repeated reservation waits on the same future."""

    async def all(self) -> Sequence[Reservation]: ...


class ClaimRepository(Protocol):
    def add(self, claim: Claim) -> asyncio.Future[None]:
        """Record a new held claim; a claim with a priority code also spends the code.

        Returns the future of its durability rather than a coroutine: the hot path awaits
        it shielded, and replays of the same request await the same future."""

    def settle(
        self, claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord
    ) -> asyncio.Future[None]:
        """Mark the claim paid, record its order and the captured payment, in one
        transaction. Queued at once: the payment awaits it shielded, so a cancelled
        request cannot half-undo it."""

    def unsell(self, claim_id: str, at: datetime) -> asyncio.Future[None]:
        """A paid claim whose order was refunded before shipping: cancelled, unit freed."""

    def release_many(
        self, claim_ids: Iterable[str], state: ClaimState, at: datetime
    ) -> asyncio.Future[None]:
        """Queued at once, so a release is never durable after a later claim."""

    async def all(self) -> Sequence[Claim]: ...


@dataclass(frozen=True, slots=True)
class OrderFilter:
    launch_id: str | None = None
    sku: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class ExportRow:
    order: Order
    email: str
    name: str


class OrderRepository(Protocol):
    def update(self, orders: Sequence[Order]) -> asyncio.Future[None]:
        """Write each order's status, ship date, shipping and refund fields. Queued at once."""

    def record_dates(
        self, rows: Sequence[tuple[str, str | None, str | None, str]]
    ) -> asyncio.Future[None]:
        """(status, ship date, ship date told to the fan, order id) for many orders."""

    def add_events(self, events: Sequence[OrderEvent]) -> asyncio.Future[None]: ...
    async def events(self, order_id: str) -> Sequence[OrderEvent]: ...
    async def all(self) -> Sequence[Order]: ...
    async def for_fan(self, fan_id: str) -> Sequence[Order]: ...
    async def page(
        self, after: tuple[str, str] | None, limit: int, where: OrderFilter
    ) -> Sequence[ExportRow]:
        """Up to `limit` orders in payment order, after the (paid_at ISO, id) key `after`:
        an export reads page by page and never holds the whole list."""


class PaymentRepository(Protocol):
    def add(self, payment: PaymentRecord) -> asyncio.Future[None]: ...
    def update(self, payment: PaymentRecord) -> asyncio.Future[None]: ...
    async def all(self) -> Sequence[PaymentRecord]: ...
    def note_event(self, provider: str, event_id: str, at: datetime) -> asyncio.Future[bool]:
        """Remember a provider's webhook event; resolves to False if it was seen before."""


class PlanRepository(Protocol):
    def put(
        self, product_id: str, sku: str, plan: ProductionPlan, at: datetime
    ) -> asyncio.Future[None]: ...
    async def all(self) -> Sequence[tuple[str, str, ProductionPlan]]: ...


class NotificationRepository(Protocol):
    def add_many(self, notifications: Sequence[Notification]) -> asyncio.Future[None]: ...
    async def for_fan(self, fan_id: str, limit: int) -> Sequence[Notification]:
        """The newest first."""


class CodeRepository(Protocol):
    async def add_many(self, codes: Sequence[PriorityCode]) -> None: ...
    async def all(self) -> Sequence[PriorityCode]: ...


class AuditRepository(Protocol):
    def add(self, entry: AuditEntry) -> asyncio.Future[None]: ...
    async def recent(self, limit: int) -> Sequence[AuditEntry]:
        """The newest first."""


class Store(Protocol):
    @property
    def products(self) -> ProductRepository: ...
    @property
    def launches(self) -> LaunchRepository: ...
    @property
    def fans(self) -> FanRepository: ...
    @property
    def reservations(self) -> ReservationRepository: ...
    @property
    def claims(self) -> ClaimRepository: ...
    @property
    def codes(self) -> CodeRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def payments(self) -> PaymentRepository: ...
    @property
    def plans(self) -> PlanRepository: ...
    @property
    def notifications(self) -> NotificationRepository: ...
    @property
    def audit(self) -> AuditRepository: ...

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept with the data (made on first use). The token
        signing key lives here, so a token is only ever valid for the data it was made
        for: a fresh database invalidates every old token."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
