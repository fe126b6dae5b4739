"""An in-memory store for unit tests: the same ports, dicts behind them, durable at once.

`InMemoryStore.crash_copy()` gives a new store holding what was written, to test that the
engine rebuilds from the record after a restart. A transaction block is applied whole when
it exits (`memory_transaction.py`); a test can make the next one fail
(`fail_next_transaction`) or hold or refuse blocks as they commit (`before_commit`).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent, OrderStatus
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import Conflict
from soldout.domain.fans import ERASED_NAME, Fan, Reservation, erased_email
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.launches import Launch
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
from soldout.domain.rehearsals import RunRecord
from soldout.store.memory_access import MemorySessions, MemoryTeam
from soldout.store.memory_reads import (
    ClaimReads,
    CodeReads,
    OrderReads,
    PaymentReads,
    ReservationReads,
)
from soldout.store.memory_site import MemoryLinks, MemoryMedia, MemoryNotifications, MemoryShop
from soldout.store.memory_transaction import BeforeCommit, Journal, MemoryTransaction
from soldout.store.ports import ExportRow, OrderFilter, StoreHealth

__all__ = ["InMemoryStore", "MemoryTransaction"]


class _Products:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, Product] = {}
        self._journal = journal

    async def add(self, product: Product) -> None:
        self.rows[product.id] = product
        self._journal.count()

    async def update(self, product: Product) -> None:
        self.rows[product.id] = replace(product, created_at=self.rows[product.id].created_at)
        self._journal.count()

    async def get(self, product_id: str) -> Product | None:
        return self.rows.get(product_id)

    async def all(self) -> Sequence[Product]:
        return list(self.rows.values())


class _Launches:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, Launch] = {}
        self._journal = journal

    async def add(self, launch: Launch) -> None:
        self.rows[launch.id] = replace(launch, batch=dict(launch.batch))
        self._journal.count()

    def update(self, launch: Launch) -> asyncio.Future[None]:
        self.rows[launch.id] = replace(launch, batch=dict(launch.batch))
        return self._journal.done()

    async def all(self) -> Sequence[Launch]:
        return [replace(launch, batch=dict(launch.batch)) for launch in self.rows.values()]


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


class _Reservations(ReservationReads):
    def __init__(self, journal: Journal) -> None:
        self.rows: list[Reservation] = []
        self._journal = journal

    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        self.rows.append(reservation)
        return self._journal.done()

    async def all(self) -> Sequence[Reservation]:
        return list(self.rows)


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


class _Plans:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[tuple[str, str], ProductionPlan] = {}
        self._journal = journal

    def put(
        self, product_id: str, sku: str, plan: ProductionPlan, at: datetime
    ) -> asyncio.Future[None]:
        self.rows[(product_id, sku)] = plan
        return self._journal.done()

    async def all(self) -> Sequence[tuple[str, str, ProductionPlan]]:
        return [(product, sku, plan) for (product, sku), plan in self.rows.items()]


class _Codes(CodeReads):
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, PriorityCode] = {}
        self._journal = journal

    async def add_many(self, codes: Sequence[PriorityCode]) -> None:
        for code in codes:
            self.rows[code.code] = copy.copy(code)
        self._journal.count()

    async def all(self) -> Sequence[PriorityCode]:
        return [copy.copy(c) for c in self.rows.values()]


class _Audit:
    def __init__(self, journal: Journal) -> None:
        self.rows: list[AuditEntry] = []
        self._journal = journal

    def add(self, entry: AuditEntry) -> asyncio.Future[None]:
        self.rows.append(entry)
        return self._journal.done()

    async def recent(self, limit: int) -> Sequence[AuditEntry]:
        return list(reversed(self.rows))[:limit]


class _Rehearsals:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def marks(self) -> Sequence[tuple[str, str]]:
        return [(f.id, f.rehearsal) for f in self._store.fans.rows.values() if f.rehearsal]

    async def real_fans(self) -> int:
        return sum(1 for f in self._store.fans.rows.values() if f.rehearsal is None)

    def purge(self, record: RunRecord) -> asyncio.Future[None]:
        s = self._store
        launches, products = set(record.launch_ids), set(record.product_ids)
        fans, orders = set(record.fan_ids), set(record.order_ids)
        s.orders.event_rows = [e for e in s.orders.event_rows if e.order_id not in orders]
        for rows, ids in (
            (s.orders.rows, orders),
            (s.payments.rows, record.payment_ids),
            (s.claims.rows, record.claim_ids),
            (s.launches.rows, launches),
            (s.products.rows, products),
            (s.fans.rows, fans),
            (s.secrets, record.secrets),
        ):
            for key in ids:
                rows.pop(key, None)
        s.codes.rows = {k: c for k, c in s.codes.rows.items() if c.launch_id not in launches}
        s.reservations.rows = [r for r in s.reservations.rows if r.launch_id not in launches]
        s.plans.rows = {k: p for k, p in s.plans.rows.items() if k[0] not in products}
        for fan_id in fans:
            s.notifications.forget(fan_id)
        return s.journal.done()


class InMemoryStore:
    def __init__(self) -> None:
        journal = self.journal = Journal()
        self.products = _Products(journal)
        self.launches = _Launches(journal)
        self.fans = _Fans(journal)
        self.reservations = _Reservations(journal)
        self.codes = _Codes(journal)
        self.orders = _Orders(journal, self.fans)
        self.payments = _Payments(journal)
        self.plans = _Plans(journal)
        self.notifications = MemoryNotifications(journal, self.fans.rows)
        self.audit = _Audit(journal)
        self.media = MemoryMedia(journal)
        self.shop = MemoryShop(journal)
        self.links = MemoryLinks(journal)
        self.fans.orders, self.fans.notifications = self.orders, self.notifications
        self.fans.reservations, self.fans.launches = self.reservations, self.launches
        self.claims = _Claims(journal, self.codes, self.orders, self.payments)
        self.payments.claim_rows = self.claims.rows
        self.secrets: dict[str, bytes] = {}
        self.rehearsals = _Rehearsals(self)
        self.team = MemoryTeam(journal)
        self.sessions = MemorySessions(journal)
        # Called with each block as it exits, before anything of it is applied: it may raise
        # (the block fails: nothing applied) or return an awaitable the commit waits for
        # (a commit in flight; single writes made meanwhile apply at once, before it).
        self.before_commit: BeforeCommit | None = None
        self._failures: deque[BaseException] = deque()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def secret(self, name: str) -> bytes:
        return self.secrets.setdefault(name, secrets.token_bytes(32))

    def transaction(self) -> MemoryTransaction:
        return MemoryTransaction(self, self._commit)

    def fail_next_transaction(self, error: BaseException) -> None:
        """The next block to exit applies nothing and raises `error` (queued: once each)."""
        self._failures.append(error)

    def health(self) -> StoreHealth:
        return StoreHealth(None, self.journal.transactions, self.journal.writes)

    def on_commit(self, listener: Callable[[int, float], None]) -> None:
        self.journal.listeners.append(listener)

    def _commit(self, tx: MemoryTransaction) -> None:
        """A block exits: fail it, hold it, or apply it now."""
        if self._failures:
            tx.fail(self._failures.popleft())
            return
        if self.before_commit is not None:
            try:
                held = self.before_commit(tx)
            except Exception as refused:
                tx.fail(refused)
                return
            if held is not None:
                waiting = asyncio.ensure_future(held)
                waiting.add_done_callback(lambda _: self._after_hold(waiting, tx))
                return
        tx.apply(self.journal)

    def _after_hold(self, held: asyncio.Future[None], tx: MemoryTransaction) -> None:
        error = None if held.cancelled() else held.exception()
        if held.cancelled() or error is not None:
            tx.fail(error or asyncio.CancelledError())
        else:
            tx.apply(self.journal)

    def crash_copy(self) -> InMemoryStore:
        """What a restarted process would find: a deep copy of everything written (not
        the hooks a test set: a restarted process has none)."""
        hook, self.before_commit = self.before_commit, None
        try:
            copied = copy.deepcopy(self)
        finally:
            self.before_commit = hook
        copied._failures.clear()
        return copied
