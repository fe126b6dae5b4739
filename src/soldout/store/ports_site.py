"""The ports of what surrounds the sale: production plans, notifications and their e-mail
outbox, uploaded media, the shop's settings, spent sign-in links, rehearsals' leftovers and
the audit log (`ports.py` gathers them into the `Store`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from soldout.domain.audit import AuditEntry
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.media import MediaItem
from soldout.domain.notifications import Notification
from soldout.domain.rehearsals import RunRecord
from soldout.domain.shop import Shop
from soldout.store.rows_board import BoardChange, BoardRecords
from soldout.store.writes import EmailOutcome

__all__ = [
    "AuditRepository",
    "BoardRepository",
    "LinkRepository",
    "MediaRepository",
    "NotificationRepository",
    "OutgoingEmail",
    "PlanRepository",
    "RehearsalRepository",
    "ShopRepository",
]


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


class MediaRepository(Protocol):
    async def add(self, item: MediaItem) -> None:
        """Adding bytes already stored (the same id) changes nothing."""

    async def get(self, media_id: str) -> MediaItem | None: ...


class ShopRepository(Protocol):
    async def get(self) -> Shop:
        """The shop's settings (the defaults until the maker sets them)."""

    async def put(self, shop: Shop) -> None: ...


class BoardRepository(Protocol):
    """The ideas board's records (see `store/rows_board.py`)."""

    def write(self, changes: Sequence[BoardChange]) -> asyncio.Future[None]:
        """Apply `changes` in order, all or none, in one transaction."""

    async def load(self) -> BoardRecords:
        """Every record (by time written, then id) and every mark (by time)."""


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
