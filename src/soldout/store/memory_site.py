"""The in-memory store's repositories of what surrounds the sale: the notifications and
their e-mail outbox, uploaded images, the shop's settings, spent sign-in links (the
catalogue and the sale are in `memory_catalogue.py` and `memory_sale.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from soldout.domain.fans import Fan
from soldout.domain.media import MediaItem
from soldout.domain.notifications import Notification
from soldout.domain.shop import Shop
from soldout.domain.team import AdminAccount
from soldout.store.memory_transaction import Journal
from soldout.store.ports import EmailOutcome, OutgoingEmail
from soldout.store.rows_board import BoardChange, BoardMark, BoardPut, BoardRecord, BoardRecords

__all__ = ["MemoryBoard", "MemoryLinks", "MemoryMedia", "MemoryNotifications", "MemoryShop"]


class MemoryNotifications:
    def __init__(
        self, journal: Journal, fans: dict[str, Fan], accounts: dict[str, AdminAccount]
    ) -> None:
        self._journal = journal
        self.rows: list[Notification] = []
        self.email: dict[str, EmailOutcome] = {}  # the outbox state of e-mailed ones
        self.progress: dict[str, str] = {}  # reminders: key -> how far
        self._fans = fans  # the store's fans, by id
        self._accounts = accounts  # the team's accounts, by id (the maker's e-mails)
        self._wakes: list[Callable[[], None]] = []

    def add_many(self, notifications: Sequence[Notification]) -> asyncio.Future[None]:
        mailed = False
        for n in notifications:
            if n.email and self._mailable(n.fan_id, writing=True):
                self.email[n.id] = EmailOutcome(n.id, "pending", 0, n.created_at, n.created_at)
                mailed = True
            self.rows.append(n if n.id in self.email else replace(n, email=False))
        if mailed:
            for wake in self._wakes:
                asyncio.get_running_loop().call_soon(wake)  # as after a commit: not inline
        return self._journal.done()

    def _mailable(self, fan_id: str, *, writing: bool = False) -> bool:
        """As the SQL: a fan neither erased nor a rehearsal's, or a member of the team (who
        wanted the maker's e-mails when it was written)."""
        fan = self._fans.get(fan_id)
        if fan is not None:
            return fan.erased_at is None and fan.rehearsal is None
        account = self._accounts.get(fan_id)
        return account is not None and (account.maker_mail or not writing)

    def on_email(self, wake: Callable[[], None]) -> None:
        self._wakes.append(wake)

    def remember(
        self, progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
    ) -> asyncio.Future[None]:
        self.progress.update(progress)
        return self.add_many(notifications)  # (one commit, with the notifications)

    async def reminders(self) -> dict[str, str]:
        return dict(self.progress)

    async def for_fan(self, fan_id: str, limit: int) -> Sequence[Notification]:
        return [n for n in reversed(self.rows) if n.fan_id == fan_id][:limit]

    def forget(self, fan_id: str) -> None:
        gone = {n.id for n in self.rows if n.fan_id == fan_id}
        self.rows = [n for n in self.rows if n.id not in gone]
        for note_id in gone:
            self.email.pop(note_id, None)

    def _pending(self) -> list[EmailOutcome]:
        by_id = {n.id: n for n in self.rows}
        return [
            o
            for o in self.email.values()
            if o.state == "pending" and o.next_at is not None
            if self._mailable(by_id[o.notification_id].fan_id)
        ]

    async def due_emails(self, now: datetime, limit: int) -> Sequence[OutgoingEmail]:
        by_id = {n.id: n for n in self.rows}
        order = {note_id: i for i, note_id in enumerate(by_id)}  # as rowid: insertion order
        due = sorted(
            (o.next_at, order[o.notification_id], o.notification_id)
            for o in self._pending()
            if o.next_at is not None and o.next_at <= now
        )
        out = []
        for _, _, note_id in due[:limit]:
            note, attempts = by_id[note_id], self.email[note_id].attempts
            fan = self._fans.get(note.fan_id)
            if fan is None:
                account = self._accounts[note.fan_id]
                out.append(OutgoingEmail(note, account.email, account.name, None, None, attempts))
                continue
            out.append(
                OutgoingEmail(note, fan.email, fan.name, fan.locale, fan.time_zone, attempts)
            )
        return out

    def emails_done(self, outcomes: Sequence[EmailOutcome]) -> asyncio.Future[None]:
        for outcome in outcomes:
            current = self.email.get(outcome.notification_id)
            if current is not None and current.state == "pending":  # as the SQL's WHERE
                self.email[outcome.notification_id] = outcome
        return self._journal.done()

    async def email_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.email.values():
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        silent = len(self.rows) - len(self.email)
        if silent:
            counts["none"] = silent
        return counts

    async def email_backlog(self) -> int:
        return len(self._pending())

    async def next_email_at(self) -> datetime | None:
        due = [o.next_at for o in self._pending() if o.next_at is not None]
        return min(due) if due else None


class MemoryMedia:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, MediaItem] = {}
        self._journal = journal

    async def add(self, item: MediaItem) -> None:
        self.rows.setdefault(item.id, item)
        self._journal.count()

    async def get(self, media_id: str) -> MediaItem | None:
        return self.rows.get(media_id)


class MemoryShop:
    def __init__(self, journal: Journal) -> None:
        self.value = Shop()
        self._journal = journal

    async def get(self) -> Shop:
        return self.value

    async def put(self, shop: Shop) -> None:
        self.value = shop
        self._journal.count()


class MemoryLinks:
    def __init__(self, journal: Journal) -> None:
        self.used: dict[str, datetime] = {}
        self._journal = journal

    def use(self, key: str, expires_at: datetime, now: datetime) -> asyncio.Future[bool]:
        for old in [k for k, until in self.used.items() if until < now]:
            del self.used[old]
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        future.set_result(key not in self.used)
        self.used.setdefault(key, expires_at)
        self._journal.count()
        return future

    async def spent(self, key: str) -> bool:
        return key in self.used


class MemoryBoard:
    """The board's documents by id and its marks by (subject, fan), as the tables hold them."""

    def __init__(self, journal: Journal) -> None:
        self.docs: dict[str, tuple[BoardRecord, datetime]] = {}
        self.marks: dict[tuple[str, str], BoardMark] = {}
        self._journal = journal

    def write(self, changes: Sequence[BoardChange]) -> asyncio.Future[None]:
        for change in changes:
            if isinstance(change, BoardPut):
                self.docs[change.key] = (change.record, change.at)
            elif isinstance(change, BoardMark):
                self.marks.pop((change.subject, change.fan_id), None)
                self.marks[(change.subject, change.fan_id)] = change
            else:
                self.marks.pop((change.subject, change.fan_id), None)
        return self._journal.done()

    async def load(self) -> BoardRecords:
        docs = sorted(self.docs.items(), key=lambda kv: (kv[1][1], kv[0]))
        marks = sorted(self.marks.values(), key=lambda m: (m.at, m.subject, m.fan_id))
        return BoardRecords([record for _, (record, _) in docs], marks)
