"""The unit of work: what `async with store.transaction() as tx:` writes (`tx.claims`,
`tx.orders`, ...), and how an adapter's exit waits for the block's outcome.

Inside `async with store.transaction() as tx:` each write is only noted (its rows are
made from its arguments at once); it returns nothing, since its outcome is the block's.
Left out: writes that answer something beyond done or failed (`FanRepository.add` and
`TeamRepository.add`: a taken e-mail; `TeamRepository.accept`, `PaymentRepository.
note_event`, `LinkRepository.use`: a yes or no). They are made on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
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
from soldout.store.rows_board import BoardChange

__all__ = [
    "AuditWrites",
    "BoardWrites",
    "ClaimWrites",
    "CodeWrites",
    "EmailOutcome",
    "FanWrites",
    "LaunchWrites",
    "MediaWrites",
    "NotificationWrites",
    "OrderWrites",
    "PaymentWrites",
    "PlanWrites",
    "ProductWrites",
    "RehearsalWrites",
    "ReservationWrites",
    "SessionWrites",
    "ShopWrites",
    "TeamWrites",
    "Transaction",
    "block_outcome",
]


@dataclass(frozen=True, slots=True)
class EmailOutcome:
    """What became of one e-mail: `sent`, `pending` again (to retry at `next_at`),
    `failed` for good, or `dropped` (no longer true when its turn came: not sent)."""

    notification_id: str
    state: str
    attempts: int
    at: datetime
    next_at: datetime | None = None
    error: str | None = None


class ProductWrites(Protocol):
    def add(self, product: Product) -> None: ...
    def update(self, product: Product) -> None: ...


class LaunchWrites(Protocol):
    def add(self, launch: Launch) -> None: ...
    def update(self, launch: Launch) -> None: ...


class FanWrites(Protocol):
    def update(self, fan: Fan) -> None: ...
    def erase(self, fan_id: str, at: datetime) -> None: ...


class ReservationWrites(Protocol):
    def add(self, reservation: Reservation) -> None: ...


class ClaimWrites(Protocol):
    def add(self, claim: Claim) -> None: ...
    def settle(
        self, claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord
    ) -> None: ...
    def unsell(self, claim_id: str, at: datetime) -> None: ...
    def release_many(self, claim_ids: Iterable[str], state: ClaimState, at: datetime) -> None: ...


class CodeWrites(Protocol):
    def add_many(self, codes: Sequence[PriorityCode]) -> None: ...


class OrderWrites(Protocol):
    def update(self, orders: Sequence[Order]) -> None: ...
    def record_dates(self, rows: Sequence[tuple[str, str | None, str | None, str]]) -> None: ...
    def add_events(self, events: Sequence[OrderEvent]) -> None: ...


class PaymentWrites(Protocol):
    def add(self, payment: PaymentRecord) -> None: ...
    def update(self, payment: PaymentRecord) -> None: ...


class PlanWrites(Protocol):
    def put(self, product_id: str, sku: str, plan: ProductionPlan, at: datetime) -> None: ...


class NotificationWrites(Protocol):
    def add_many(self, notifications: Sequence[Notification]) -> None: ...
    def emails_done(self, outcomes: Sequence[EmailOutcome]) -> None: ...
    def remember(
        self, progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
    ) -> None: ...


class AuditWrites(Protocol):
    def add(self, entry: AuditEntry) -> None: ...


class MediaWrites(Protocol):
    def add(self, item: MediaItem) -> None: ...


class ShopWrites(Protocol):
    def put(self, shop: Shop) -> None: ...


class BoardWrites(Protocol):
    def write(self, changes: Sequence[BoardChange]) -> None: ...


class RehearsalWrites(Protocol):
    def purge(self, record: RunRecord) -> None: ...


class TeamWrites(Protocol):
    def update(self, account: AdminAccount) -> None: ...
    def remove(self, account_id: str) -> None: ...
    def invite(self, invite: Invite) -> None: ...
    def cancel(self, invite_id: str) -> None: ...


class SessionWrites(Protocol):
    def add(self, session: Session) -> None: ...
    def end(self, digests: Sequence[str], at: datetime) -> None: ...
    def set_generation(self, fan_id: str, generation: int, at: datetime) -> None: ...


class Transaction(Protocol):
    """The writes of one `async with store.transaction() as tx:` block: committed together
    when the block exits normally (the exit waits until they are durable, and raises if
    they are not), none of them if it raises. A block with no write commits nothing."""

    @property
    def products(self) -> ProductWrites: ...
    @property
    def launches(self) -> LaunchWrites: ...
    @property
    def fans(self) -> FanWrites: ...
    @property
    def reservations(self) -> ReservationWrites: ...
    @property
    def claims(self) -> ClaimWrites: ...
    @property
    def codes(self) -> CodeWrites: ...
    @property
    def orders(self) -> OrderWrites: ...
    @property
    def payments(self) -> PaymentWrites: ...
    @property
    def plans(self) -> PlanWrites: ...
    @property
    def notifications(self) -> NotificationWrites: ...
    @property
    def audit(self) -> AuditWrites: ...
    @property
    def media(self) -> MediaWrites: ...
    @property
    def shop(self) -> ShopWrites: ...
    @property
    def board(self) -> BoardWrites: ...
    @property
    def rehearsals(self) -> RehearsalWrites: ...
    @property
    def team(self) -> TeamWrites: ...
    @property
    def sessions(self) -> SessionWrites: ...
    @property
    def durable(self) -> asyncio.Future[None]:
        """The block's outcome, there from its start: resolves once its writes are durable,
        fails with why they are not, is cancelled if the block raised (nothing written).
        A callback added to it runs whatever becomes of the caller (a request cancelled
        while the exit waits: the writes go on). Await it shielded."""


async def block_outcome(durable: asyncio.Future[None]) -> None:
    """How every adapter's transaction exit waits for `durable` (its block's outcome):
    shielded, so a cancelled caller leaves the commit to go on, and returning only after
    the callbacks added to `durable` have run, even when it resolved at once (an in-memory
    store, a store that had stopped), so the caller finds their effects."""
    if not durable.done():
        await asyncio.shield(durable)
        return
    if not durable.cancelled():
        durable.exception()  # retrieved: raised below, once its callbacks ran
    await asyncio.sleep(0)
    durable.result()
