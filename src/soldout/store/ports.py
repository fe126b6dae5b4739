"""The ports: one narrow interface per aggregate, and the unit of work that groups writes.

Writes that must land together are stated as one transaction:

    async with store.transaction() as tx:
        tx.claims.settle(claim.id, now, order, payment)
        tx.orders.add_events(events)
        tx.notifications.add_many(notes)

Inside the block the writes go through `tx` (`tx.claims`, `tx.orders`, ...: the write
methods of the repositories); reads stay on the store and see what is durable, not the
block's own writes. When the block exits normally its writes commit all or nothing, and
the exit returns once they are durable; if the block raises, none of them is written. A
write made outside any block is a transaction by itself: it is queued when called and
returns the future of its durability (or, for the maker's rarer writes, a coroutine), so
the claim's hot path pays one queued write per claim and nothing more.

Each write, and each block, is atomic and durable when its future or its exit resolves:
an adapter may group many of them into one commit (group commit), never resolves one
before that commit, and never lets a failed one take another with it. They take effect in
the order they were issued (a block when it exits), so a release that freed a unit is
never durable after the claim that took the unit again: a block that records a change made
in memory exits in the same tick as the change (no `await` inside it), as the engine's do.

Reads that return many rows return them in one order, whichever the adapter: products,
launches, reservations, claims, payments, admin accounts and invites by creation time
then id; priority codes by creation time then code; orders by payment time then id; an
order's events, a launch's batch (SKU by SKU), referral pairs and contacts in the order
they were written. (The in-memory fake keeps the order of writing, the same whenever
times grow as rows are written, as the engine's clock makes them.) A read restricted to
some rows (`of_launches`, `for_fan`, `in_queue`, ...) returns them in that order too (the
fake sorts the claims and payments of such a read by time then id, as the databases do).

Targeted reads (`get`, `of_launches`, `of_claims`, `for_fan`, `for_claim`, `in_queue`,
`unsettled`, `tally`) let a caller hold only what is live instead of every row. Each is
served by an index (`claims_by_launch`, `orders_by_launch`, `payments_by_claim`, the
primary and unique keys) except those that read a whole table: `tally`, `in_queue`,
`unsettled`, and a fan's claims (`ClaimRepository.for_fan`: no index of claims by fan,
which every claim's write would pay; see SQLite's migration 0005). An empty collection of
ids reads nothing and returns [].
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Fan, Reservation
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.launches import Launch
from soldout.domain.media import MediaItem
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
from soldout.domain.rehearsals import RunRecord
from soldout.domain.sessions import Session
from soldout.domain.shop import Shop
from soldout.domain.team import AdminAccount, Invite
from soldout.store.writes import (
    AuditWrites,
    ClaimWrites,
    CodeWrites,
    EmailOutcome,
    FanWrites,
    LaunchWrites,
    MediaWrites,
    NotificationWrites,
    OrderWrites,
    PaymentWrites,
    PlanWrites,
    ProductWrites,
    RehearsalWrites,
    ReservationWrites,
    SessionWrites,
    ShopWrites,
    TeamWrites,
    Transaction,
    block_outcome,
)

__all__ = [
    "AuditRepository",
    "AuditWrites",
    "ClaimRepository",
    "ClaimTally",
    "ClaimWrites",
    "CodeRepository",
    "CodeWrites",
    "EmailOutcome",
    "ExportRow",
    "FanRepository",
    "FanWrites",
    "LaunchRepository",
    "LaunchWrites",
    "LinkRepository",
    "MediaRepository",
    "MediaWrites",
    "NotificationRepository",
    "NotificationWrites",
    "OrderFilter",
    "OrderRepository",
    "OrderWrites",
    "OutgoingEmail",
    "PaymentRepository",
    "PaymentWrites",
    "PlanRepository",
    "PlanWrites",
    "ProductRepository",
    "ProductWrites",
    "RehearsalRepository",
    "RehearsalWrites",
    "ReservationRepository",
    "ReservationWrites",
    "SessionRepository",
    "SessionWrites",
    "ShopRepository",
    "ShopWrites",
    "Store",
    "StoreHealth",
    "TeamRepository",
    "TeamWrites",
    "Transaction",
    "block_outcome",
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

    def update(self, fan: Fan) -> asyncio.Future[None]:
        """Write the fan's name, contact, shipping address, locale and time zone."""

    async def erased(self) -> Sequence[str]:
        """The ids of fans whose data was erased (their tokens must not work)."""

    def erase(self, fan_id: str, at: datetime) -> asyncio.Future[None]:
        """Erase a fan's personal data in one transaction: name, e-mail (replaced by a
        placeholder that can never receive mail), address and phone on the fan and on
        their orders, their notifications, and their reservations of launches not drawn
        (a drawn launch keeps its published entries). Orders stay, for the maker's books."""


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


class PlanRepository(Protocol):
    def put(
        self, product_id: str, sku: str, plan: ProductionPlan, at: datetime
    ) -> asyncio.Future[None]: ...
    async def all(self) -> Sequence[tuple[str, str, ProductionPlan]]: ...


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A notification waiting in the e-mail outbox, with what sending it needs."""

    notification: Notification
    to: str
    name: str
    locale: str | None
    time_zone: str | None
    attempts: int


class NotificationRepository(Protocol):
    def add_many(self, notifications: Sequence[Notification]) -> asyncio.Future[None]:
        """Notifications with `email` set enter the e-mail outbox (`pending`), unless their
        fan is a rehearsal's or erased: those are never mailed (`none`)."""

    async def for_fan(self, fan_id: str, limit: int) -> Sequence[Notification]:
        """The newest first."""

    async def due_emails(self, now: datetime, limit: int) -> Sequence[OutgoingEmail]:
        """Up to `limit` pending e-mails whose time has come, oldest first."""

    def emails_done(self, outcomes: Sequence[EmailOutcome]) -> asyncio.Future[None]:
        """Record outcomes, each only over a message still `pending` (a late or repeated
        outcome never turns a sent or failed message back)."""

    async def email_counts(self) -> dict[str, int]:
        """Notifications per e-mail state (`pending`, `sent`, `failed`, `dropped`, `none`)."""

    async def next_email_at(self) -> datetime | None:
        """When the earliest pending e-mail is due, or None if none is pending."""

    async def email_backlog(self) -> int:
        """How many e-mails are pending (cheap: what the outbox's index holds)."""

    def on_email(self, wake: Callable[[], None]) -> None:
        """Call `wake` each time a write that put e-mails in the outbox is durable (the
        mail dispatcher's doorbell: it must be cheap and must not raise)."""

    def remember(
        self, progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
    ) -> asyncio.Future[None]:
        """Add `notifications` and note how far each reminder got (`progress`: reminder key
        -> mark) in one transaction, so a reminder resumed after a crash neither repeats
        nor skips anyone."""

    async def reminders(self) -> dict[str, str]:
        """How far each reminder got (key -> mark), as `remember` left it."""


class CodeRepository(Protocol):
    async def add_many(self, codes: Sequence[PriorityCode]) -> None: ...
    async def all(self) -> Sequence[PriorityCode]: ...
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PriorityCode]:
        """The codes of these launches, in the order of `all()`."""


class MediaRepository(Protocol):
    async def add(self, item: MediaItem) -> None:
        """Adding bytes already stored (the same id) changes nothing."""

    async def get(self, media_id: str) -> MediaItem | None: ...


class ShopRepository(Protocol):
    async def get(self) -> Shop:
        """The shop's settings (the defaults until the maker sets them)."""

    async def put(self, shop: Shop) -> None: ...


class LinkRepository(Protocol):
    def use(self, key: str, expires_at: datetime, now: datetime) -> asyncio.Future[bool]:
        """Spend a single-use link: True the first time `key` is used, False after (across
        restarts). Keys whose link has expired are forgotten."""

    async def spent(self, key: str) -> bool:
        """Whether the link was used already (reading spends nothing)."""


class RehearsalRepository(Protocol):
    """What rehearsal runs left in the store (see `soldout.domain.rehearsals`)."""

    async def marks(self) -> Sequence[tuple[str, str]]:
        """(fan, run) of every fan a rehearsal made up."""

    async def real_fans(self) -> int:
        """How many fans are real (made up by no rehearsal; erased ones count)."""

    def purge(self, record: RunRecord) -> asyncio.Future[None]:
        """Delete, in one transaction, everything `record` names: its launches (with
        their batches, reservations and codes), claims, orders (with their history),
        payments, products (with their SKUs and production plans), fans (with their
        notifications) and secrets. Queued at once, like the claim writes: a write issued
        before it (a claim of the run still in flight) commits before it."""


class AuditRepository(Protocol):
    def add(self, entry: AuditEntry) -> asyncio.Future[None]: ...
    async def recent(self, limit: int) -> Sequence[AuditEntry]:
        """The newest first."""


class TeamRepository(Protocol):
    """The admin accounts and their invites (a team is small: `services.team` holds it in
    memory and writes every change through)."""

    async def accounts(self) -> Sequence[AdminAccount]: ...
    async def add(self, account: AdminAccount) -> None:
        """Conflict `email_taken` if an account has this e-mail."""

    async def update(self, account: AdminAccount) -> None: ...
    async def remove(self, account_id: str) -> None: ...
    async def invites(self) -> Sequence[Invite]:
        """The invites not yet used (expired ones too), oldest first."""

    async def invite(self, invite: Invite) -> None: ...
    async def cancel(self, invite_id: str) -> None: ...
    async def accept(self, invite_id: str, account: AdminAccount, now: datetime) -> bool:
        """In one transaction: spend the invite, if still open at `now`, and add the
        account. False (nothing written) if it was used, cancelled or has expired; Conflict
        `email_taken` (nothing written) if an account has the e-mail."""


class SessionRepository(Protocol):
    """Browser sessions (by the digest of their id) and fans' token generations."""

    def add(self, session: Session) -> asyncio.Future[None]: ...
    def end(self, digests: Sequence[str], at: datetime) -> asyncio.Future[None]:
        """End these sessions (a sign-out), and forget every expired one."""

    async def live(self, now: datetime) -> Sequence[Session]:
        """Every session neither ended nor expired at `now`."""

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> asyncio.Future[None]:
        """Tokens of `fan_id` signed with an older generation no longer work."""

    async def generations(self) -> Sequence[tuple[str, int]]: ...


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What `/healthz` and `/metrics` show of the store (cheap: no I/O)."""

    failed: str | None  # why the store stopped taking writes (fail-stop), in one line
    transactions: int  # commits since the store opened (one may hold many writes)
    writes: int  # writes in them (a transaction block counts as one)


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
    @property
    def media(self) -> MediaRepository: ...
    @property
    def shop(self) -> ShopRepository: ...
    @property
    def links(self) -> LinkRepository: ...
    @property
    def rehearsals(self) -> RehearsalRepository: ...
    @property
    def team(self) -> TeamRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept with the data (made on first use). The token
        signing key lives here, so a token is only ever valid for the data it was made
        for: a fresh database invalidates every old token."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work: `async with store.transaction() as tx:` (see the module)."""

    def health(self) -> StoreHealth: ...
    def on_commit(self, listener: Callable[[int, float], None]) -> None:
        """Call `listener(writes, seconds)` after each commit: how many writes it held (a
        block counts as one) and how long the commit itself took (its fsync). It must be
        cheap; one that raises is logged and the commit stands."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
