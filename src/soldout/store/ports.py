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

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from soldout.store.ports_access import FanRepository, SessionRepository, TeamRepository
from soldout.store.ports_sale import (
    ClaimRepository,
    ClaimTally,
    CodeRepository,
    ExportRow,
    LaunchRepository,
    OrderFilter,
    OrderRepository,
    PaymentRepository,
    ProductRepository,
    ReservationRepository,
)
from soldout.store.ports_site import (
    AuditRepository,
    BoardRepository,
    LinkRepository,
    MediaRepository,
    NotificationRepository,
    OutgoingEmail,
    PlanRepository,
    RehearsalRepository,
    ShopRepository,
)
from soldout.store.writes import (
    AuditWrites,
    BoardWrites,
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
    "BoardRepository",
    "BoardWrites",
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
    def board(self) -> BoardRepository: ...
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
