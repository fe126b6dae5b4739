"""The ports of the catalogue and the sale's records: products, launches, reservations,
claims (with their tally), orders (with their filter and export rows), payments and
priority codes. `ports.py` gathers them into the `Store` and states the unit of work and
the order of reads."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product

__all__ = [
    "ClaimRepository",
    "ClaimTally",
    "CodeRepository",
    "ExportRow",
    "LaunchRepository",
    "OrderFilter",
    "OrderRepository",
    "PaymentRepository",
    "ProductRepository",
    "ReservationRepository",
]


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None: ...
    async def update(self, product: Product) -> None:
        """Name, description, specs, images, and SKUs: each SKU of `product` is written
        (added, or changed in place by its code); a SKU it no longer lists is removed."""

    async def get(self, product_id: str) -> Product | None: ...
    async def all(self) -> Sequence[Product]: ...


class LaunchRepository(Protocol):
    async def add(self, launch: Launch) -> None: ...
    def update(self, launch: Launch) -> asyncio.Future[None]:
        """Queued at once (not when awaited), like the claim writes below."""

    async def all(self) -> Sequence[Launch]: ...


class ReservationRepository(Protocol):
    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        """Queued at once; a repeated reservation waits on the same future."""

    async def all(self) -> Sequence[Reservation]: ...
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Reservation]:
        """The reservations of these launches, in the order of `all()`."""

    async def for_fan(self, fan_id: str) -> Sequence[Reservation]:
        """The fan's reservations, in the order of `all()`."""

    async def counts(self) -> dict[str, int]:
        """How many reservations each launch has (launches with none are left out)."""


@dataclass(frozen=True, slots=True)
class ClaimTally:
    """Claims of one launch's SKU in one state: how many, and how many units they hold."""

    launch_id: str
    sku: str
    state: ClaimState
    claims: int
    units: int  # the sum of their quantities


class ClaimRepository(Protocol):
    def add(self, claim: Claim) -> asyncio.Future[None]:
        """Record a new held claim; a claim with a priority code also spends the code.

        Returns the future of its durability rather than a coroutine: the hot path awaits
        it shielded, and replays of the same request await the same future."""

    def settle(
        self, claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord
    ) -> asyncio.Future[None]:
        """Mark the claim paid, record its order and the captured payment, in one
        transaction (the order's history and notifications join it in a block)."""

    def unsell(self, claim_id: str, at: datetime) -> asyncio.Future[None]:
        """A paid claim whose order was refunded before shipping: cancelled, unit freed."""

    def release_many(
        self, claim_ids: Iterable[str], state: ClaimState, at: datetime
    ) -> asyncio.Future[None]:
        """Queued at once, so a release is never durable after a later claim."""

    async def all(self) -> Sequence[Claim]: ...
    async def get(self, claim_id: str) -> Claim | None: ...
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Claim]:
        """The claims of these launches, in every state, by creation time then id."""

    async def for_fan(self, fan_id: str) -> Sequence[Claim]:
        """The fan's claims, in every state and launch, by creation time then id (a scan of
        every claim: claims have no index by fan)."""

    async def tally(self) -> Sequence[ClaimTally]:
        """One row per (launch, SKU, state) that any claim has, over every claim: how many
        claims and the sum of their quantities, by launch id, SKU, then state."""


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
    async def get(self, order_id: str) -> Order | None: ...
    async def for_claim(self, claim_id: str) -> Order | None:
        """The order the claim was settled into (a claim has one at most)."""

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Order]:
        """The orders of these launches, whatever their status, by payment time then id."""

    async def in_queue(self) -> Sequence[Order]:
        """The orders in the fulfilment queue (status paid or scheduled: neither shipped
        nor refunded, `Order.in_queue`), of every launch, by payment time then id."""

    async def shipped(self) -> Sequence[tuple[str, str, int]]:
        """(launch, SKU, units) of every order that shipped (refunded since or not): the
        units the fulfilment queues have spent, one row per launch and SKU."""

    async def returned(self) -> Sequence[tuple[str, str, int]]:
        """(launch, SKU, units) of every order refunded after it shipped: units gone from
        stock that are no sale (`LaunchBook.returned`), one row per launch and SKU."""

    async def counts(self) -> dict[str, int]:
        """How many orders each launch has, whatever their status."""

    async def referred(self) -> Sequence[tuple[str, str]]:
        """(order, fan) of every order not refunded whose fan was referred by another
        fan, by payment time then id: what referral points are counted from."""

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
    async def get(self, payment_id: str) -> PaymentRecord | None: ...
    async def of_claims(self, claim_ids: Collection[str]) -> Sequence[PaymentRecord]:
        """Every attempt to pay these claims, whatever its state, by creation time then id
        (thousands of ids are fine: the adapters read them in one query or in chunks)."""

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PaymentRecord]:
        """The payments of claims of these launches, whatever their state, by creation
        time then id."""

    async def unsettled(self) -> Sequence[PaymentRecord]:
        """The payments whose outcome is awaited (state pending or authorized: not
        `PaymentRecord.settled`), of every launch, by creation time then id."""

    def note_event(self, provider: str, event_id: str, at: datetime) -> asyncio.Future[bool]:
        """Remember a provider's webhook event; resolves to False if it was seen before."""

    async def last_event_at(self, provider: str) -> datetime | None:
        """When the provider's latest remembered webhook event arrived."""


class CodeRepository(Protocol):
    async def add_many(self, codes: Sequence[PriorityCode]) -> None: ...
    async def all(self) -> Sequence[PriorityCode]: ...
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PriorityCode]:
        """The codes of these launches, in the order of `all()`."""
