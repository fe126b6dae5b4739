"""The PostgreSQL repository of notifications, which is also the e-mail outbox, and of how
far each reminder got (the SQLite adapter's `SqliteNotifications`, statement for
statement, with many rows in one statement; `BlockNotifications` makes the same jobs in a
transaction block)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from soldout.domain.notifications import Notification
from soldout.store.ports import EmailOutcome, OutgoingEmail
from soldout.store.postgresql.base import Connections, InBlock, Repo, one, update_from
from soldout.store.postgresql.writer import Block, Do, Step, columns
from soldout.store.rows import ts
from soldout.store.rows_after_sale import (
    email_outcome_rows,
    notification_from_row,
    notification_rows,
)

__all__ = ["BlockNotifications", "PgNotifications"]

_FAN_MAILABLE = "f.erased_at IS NULL AND f.rehearsal IS NULL"
# A notification is a fan's, or one of the maker's e-mails to a member of the team (its
# `fan_id` the account's id): one outbox for both, the address read from either row.
_RECIPIENT = "LEFT JOIN fans f ON f.id = n.fan_id LEFT JOIN admin_accounts a ON a.id = n.fan_id"
_MAILABLE = f"((f.id IS NOT NULL AND {_FAN_MAILABLE}) OR a.id IS NOT NULL)"
_TO = (
    "coalesce(f.email, a.email) AS to_address, coalesce(f.name, a.name) AS to_name,"
    " f.locale AS to_locale, f.time_zone AS to_zone"
)
# Whether a fan can be mailed is read inside the write, from the fan's row: a rehearsal's
# fans and erased fans never enter the outbox (nor a member who turned the maker's
# e-mails off). The ordinality keeps the rows' order (the outbox's `seq`, its tie-break).
_INSERT = (
    "INSERT INTO notifications (id, fan_id, kind, message, data, created_at, email_state,"
    " email_next_at) SELECT u.id, u.fan_id, u.kind, u.message, u.data, u.created_at, m.state,"
    " CASE m.state WHEN 'pending' THEN u.created_at END FROM unnest(%b::text[], %b::text[],"
    " %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[]) WITH ORDINALITY"
    " AS u(id, fan_id, kind, message, data, created_at, email, n) CROSS JOIN LATERAL"
    " (SELECT CASE WHEN u.email <> 0 AND (EXISTS (SELECT 1 FROM fans f WHERE f.id = u.fan_id"
    f" AND {_FAN_MAILABLE}) OR EXISTS (SELECT 1 FROM admin_accounts a WHERE a.id = u.fan_id"
    " AND a.maker_mail = 1)) THEN 'pending' ELSE 'none' END AS state) m ORDER BY u.n"
)
_REMEMBER = (
    "INSERT INTO reminders (key, progress, updated_at)"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[])"
    " ON CONFLICT (key) DO UPDATE SET progress = excluded.progress,"
    " updated_at = excluded.updated_at"
)
_DONE_COLUMNS = "email_state, email_attempts, email_next_at, email_sent_at, email_error"
_DONE = update_from(
    "notifications", _DONE_COLUMNS, "titttt", where=" AND notifications.email_state = 'pending'"
)
_DONE_ONE = (
    "UPDATE notifications SET email_state = %b, email_attempts = %b, email_next_at = %b,"
    " email_sent_at = %b, email_error = %b WHERE id = %b AND email_state = 'pending'"
)


class PgNotifications(Repo):
    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self._wakes: list[Callable[[], None]] = []

    def add_many(self, notifications: Sequence[Notification]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self._writer.submit(Do([_insert(notifications)]))
        self.ring(done, notifications)
        return done

    def ring(self, done: asyncio.Future[None], notifications: Sequence[Notification]) -> None:
        """Ring the outbox's doorbell once `done` (the write of `notifications`) succeeds,
        if one of them is an e-mail."""
        if self._wakes and any(n.email for n in notifications):
            done.add_done_callback(self._wake)

    def _wake(self, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is None:
            for wake in self._wakes:
                wake()

    def on_email(self, wake: Callable[[], None]) -> None:
        self._wakes.append(wake)

    def remember(
        self, progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
    ) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self._writer.submit(_remember(progress, notifications, at))
        self.ring(done, notifications)
        return done

    async def reminders(self) -> dict[str, str]:
        rows = await self._rows("SELECT key, progress FROM reminders")
        return {r["key"]: r["progress"] for r in rows}

    async def for_fan(self, fan_id: str, limit: int) -> Sequence[Notification]:
        rows = await self._rows(
            "SELECT * FROM notifications WHERE fan_id = %b ORDER BY created_at DESC, id DESC"
            " LIMIT %b",
            (fan_id, limit),
        )
        return [notification_from_row(r) for r in rows]

    async def due_emails(self, now: datetime, limit: int) -> Sequence[OutgoingEmail]:
        # In the partial index's order (email_next_at, seq): a page is read off the index
        # however many are pending.
        rows = await self._rows(
            f"SELECT n.*, {_TO} FROM notifications n {_RECIPIENT}"
            " WHERE n.email_state = 'pending' AND n.email_next_at <= %b"
            f" AND {_MAILABLE} ORDER BY n.email_next_at, n.seq LIMIT %b",
            (ts(now), limit),
        )
        return [
            OutgoingEmail(
                notification_from_row(r),
                r["to_address"],
                r["to_name"],
                r["to_locale"],
                r["to_zone"],
                r["email_attempts"],
            )
            for r in rows
        ]

    def emails_done(self, outcomes: Sequence[EmailOutcome]) -> asyncio.Future[None]:
        return self._writer.submit(_emails_done(outcomes))

    async def email_counts(self) -> dict[str, int]:
        rows = await self._rows(
            "SELECT email_state, count(*) AS n FROM notifications GROUP BY email_state"
        )
        return {r["email_state"]: r["n"] for r in rows}

    async def email_backlog(self) -> int:
        row = await self._first(
            "SELECT count(*) AS n FROM notifications WHERE email_state = 'pending'"
        )
        return int(row["n"])

    async def next_email_at(self) -> datetime | None:
        row = await self._first(
            f"SELECT n.email_next_at FROM notifications n {_RECIPIENT}"
            f" WHERE n.email_state = 'pending' AND {_MAILABLE}"
            " ORDER BY n.email_next_at, n.seq LIMIT 1"
        )
        return (
            datetime.fromisoformat(row["email_next_at"]) if row and row["email_next_at"] else None
        )


class BlockNotifications(InBlock):
    """Their e-mails ring the outbox's doorbell once the block is durable."""

    def __init__(self, block: Block, repository: PgNotifications) -> None:
        super().__init__(block)
        self._repository = repository

    def add_many(self, notifications: Sequence[Notification]) -> None:
        self._block.add(Do([_insert(notifications)]))
        self._repository.ring(self._block.durable, notifications)

    def emails_done(self, outcomes: Sequence[EmailOutcome]) -> None:
        self._block.add(_emails_done(outcomes))

    def remember(
        self, progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
    ) -> None:
        self._block.add(_remember(progress, notifications, at))
        self._repository.ring(self._block.durable, notifications)


def _remember(
    progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
) -> Do:
    marks = [list(progress), list(progress.values()), [ts(at)] * len(progress)]
    # one job: the mark never lands without its notifications
    return Do([_insert(notifications), (_REMEMBER, marks)])


def _emails_done(outcomes: Sequence[EmailOutcome]) -> Do:
    rows = email_outcome_rows(outcomes)
    if len({row[-1] for row in rows}) < len(rows):
        # a message twice: one by one, each over what the one before left
        return Do([(_DONE_ONE, row) for row in rows])
    return one(_DONE, columns(rows, 6))


def _insert(notifications: Sequence[Notification]) -> Step:
    return _INSERT, columns(notification_rows(notifications), 7)
