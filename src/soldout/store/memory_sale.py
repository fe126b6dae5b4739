"""The in-memory store's repositories of fans and the sale's records: fans (an erasure
reaches their orders, notifications and reservations), claims, orders and payments (the
store is in `memory.py`)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent, OrderStatus
from soldout.domain.errors import Conflict
from soldout.domain.fans import ERASED_NAME, Fan, erased_email
from soldout.domain.payments import PaymentRecord
from soldout.store.memory_catalogue import _Codes, _Launches, _Reservations
from soldout.store.memory_reads import ClaimReads, OrderReads, PaymentReads
from soldout.store.memory_site import MemoryNotifications
from soldout.store.memory_transaction import Journal
from soldout.store.ports import ExportRow, OrderFilter

__all__ = ["_Claims", "_Fans", "_Orders", "_Payments"]


class _Fans:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, Fan] = {}
        self._journal = journal
        self.orders: _Orders | None = None  # what an erasure also reaches
        self.notifications: MemoryNotifications | None = None
        self.reservations: _Reservations | None = None
        self.launches: _Launches | None = None

    async def add(self, fan: Fan) -> None:
        if any(f.email == fan.email for f in self.rows.values()):
            raise Conflict("a fan with this e-mail is registered", field="email").with_code(
                "email_taken"
            )
        self.rows[fan.id] = fan
        self._journal.count()

    async def get(self, fan_id: str) -> Fan | None:
        return self.rows.get(fan_id)

    async def by_referral_code(self, code: str) -> Fan | None:
        return next((f for f in self.rows.values() if f.referral_code == code), None)

    async def by_email(self, email: str) -> Fan | None:
        return next((f for f in self.rows.values() if f.email == email), None)

    async def referral_pairs(self) -> Sequence[tuple[str, str]]:
        return [(f.id, f.referred_by) for f in self.rows.values() if f.referred_by is not None]

    async def contacts(self) -> Sequence[tuple[str, str | None, str | None]]:
        return [(f.id, f.address, f.phone) for f in self.rows.values() if f.address or f.phone]

    def update(self, fan: Fan) -> asyncio.Future[None]:
        row = self.rows[fan.id]
        self.rows[fan.id] = replace(
            row,
            name=fan.name,
            address=fan.address,
            phone=fan.phone,
            shipping=fan.shipping,
            locale=fan.locale,
            time_zone=fan.time_zone,
            email_proven_at=fan.email_proven_at,
        )
        return self._journal.done()

    async def erased(self) -> Sequence[str]:
        return [f.id for f in self.rows.values() if f.erased_at is not None]

    def erase(self, fan_id: str, at: datetime) -> asyncio.Future[None]:
        self.rows[fan_id] = replace(
            self.rows[fan_id],
            name=ERASED_NAME,
            email=erased_email(fan_id),
            address=None,
            phone=None,
            shipping=None,
            time_zone=None,
            erased_at=at,
        )
        for order in self.orders.rows.values() if self.orders else ():
            if order.fan_id == fan_id:
                order.shipping = None
        if self.notifications is not None:
            self.notifications.forget(fan_id)
        if self.reservations is not None and self.launches is not None:
            undrawn = {i for i, launch in self.launches.rows.items() if launch.drawn_at is None}
            self.reservations.rows = [
                r
                for r in self.reservations.rows
                if r.fan_id != fan_id or r.launch_id not in undrawn
            ]
        return self._journal.done()


class _Claims(ClaimReads):
    def __init__(
        self, journal: Journal, codes: _Codes, orders: _Orders, payments: _Payments
    ) -> None:
        self.rows: dict[str, Claim] = {}
        self._journal = journal
        self._codes = codes
        self._orders = orders
        self._payments = payments

    def add(self, claim: Claim) -> asyncio.Future[None]:
        self.rows[claim.id] = copy.copy(claim)
        if claim.priority_code is not None:
            code = self._codes.rows[claim.priority_code]
            code.redeemed_by_claim, code.sku = claim.id, claim.sku
        return self._journal.done()

    def settle(
        self, claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord
    ) -> asyncio.Future[None]:
        row = self.rows[claim_id]
        if row.state is ClaimState.HELD:
            row.state, row.closed_at = ClaimState.PAID, paid_at
        self._orders.rows[order.id] = copy.copy(order)
        self._payments.rows[payment.id] = copy.copy(payment)
        return self._journal.done()

    def unsell(self, claim_id: str, at: datetime) -> asyncio.Future[None]:
        row = self.rows[claim_id]
        if row.state is ClaimState.PAID:
            row.state, row.closed_at = ClaimState.CANCELLED, at
        return self._journal.done()

    def release_many(
        self, claim_ids: Iterable[str], state: ClaimState, at: datetime
    ) -> asyncio.Future[None]:
        for claim_id in claim_ids:
            row = self.rows[claim_id]
            if row.state is ClaimState.HELD:
                row.state, row.closed_at = state, at
        return self._journal.done()

    async def all(self) -> Sequence[Claim]:
        return [copy.copy(c) for c in self.rows.values()]


class _Orders(OrderReads):
    def __init__(self, journal: Journal, fans: _Fans) -> None:
        self.rows: dict[str, Order] = {}
        self._journal = journal
        self.event_rows: list[OrderEvent] = []
        self._fans = fans

    @property
    def fan_rows(self) -> dict[str, Fan]:
        return self._fans.rows

    def update(self, orders: Sequence[Order]) -> asyncio.Future[None]:
        """The same columns as the SQLite adapter: not what the fan was last told."""
        for order in orders:
            told = self.rows[order.id].notified_ship_date
            row = self.rows[order.id] = copy.copy(order)
            row.notified_ship_date = told
        return self._journal.done()

    def record_dates(
        self, rows: Sequence[tuple[str, str | None, str | None, str]]
    ) -> asyncio.Future[None]:
        for status, ship, told, order_id in rows:
            row = self.rows[order_id]
            row.status = OrderStatus(status)
            row.ship_date = date.fromisoformat(ship) if ship else None
            row.notified_ship_date = date.fromisoformat(told) if told else None
        return self._journal.done()

    def add_events(self, events: Sequence[OrderEvent]) -> asyncio.Future[None]:
        self.event_rows.extend(events)
        return self._journal.done()

    async def events(self, order_id: str) -> Sequence[OrderEvent]:
        return [e for e in self.event_rows if e.order_id == order_id]

    async def all(self) -> Sequence[Order]:
        return [copy.copy(o) for o in self._sorted()]

    async def for_fan(self, fan_id: str) -> Sequence[Order]:
        return [copy.copy(o) for o in self._sorted() if o.fan_id == fan_id]

    async def page(
        self, after: tuple[str, str] | None, limit: int, where: OrderFilter
    ) -> Sequence[ExportRow]:
        page: list[ExportRow] = []
        for order in self._sorted():
            if after is not None and (order.paid_at.isoformat(), order.id) <= after:
                continue
            if where.launch_id not in (None, order.launch_id) or where.sku not in (
                None,
                order.sku,
            ):
                continue
            if where.status not in (None, order.status.value):
                continue
            fan = self._fans.rows[order.fan_id]
            page.append(ExportRow(copy.copy(order), fan.email, fan.name))
            if len(page) == limit:
                break
        return page

    def _sorted(self) -> list[Order]:
        return sorted(self.rows.values(), key=lambda o: (o.paid_at.isoformat(), o.id))


class _Payments(PaymentReads):
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, PaymentRecord] = {}
        self.claim_rows: dict[str, Claim] = {}  # the store's claims, once they are made
        self._journal = journal
        self.seen: set[tuple[str, str]] = set()
        self.heard: dict[str, datetime] = {}

    def add(self, payment: PaymentRecord) -> asyncio.Future[None]:
        self.rows[payment.id] = copy.copy(payment)
        return self._journal.done()

    def update(self, payment: PaymentRecord) -> asyncio.Future[None]:
        self.rows[payment.id] = copy.copy(payment)
        return self._journal.done()

    async def all(self) -> Sequence[PaymentRecord]:
        return [copy.copy(p) for p in self.rows.values()]

    def note_event(self, provider: str, event_id: str, at: datetime) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_result((provider, event_id) not in self.seen)
        self.seen.add((provider, event_id))
        self.heard[provider] = max(at, self.heard.get(provider, at))
        self._journal.count()
        return future

    async def last_event_at(self, provider: str) -> datetime | None:
        return self.heard.get(provider)
