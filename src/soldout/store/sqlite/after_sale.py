"""The SQLite repositories of what follows a sale: orders (history, dates, pages for
exports), payments and seen webhook events, production plans, the notifications outbox
and the audit log. The targeted reads of orders and payments are in `reads.py`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Order, OrderEvent
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord
from soldout.store.ports import EmailOutcome, ExportRow, OrderFilter, OutgoingEmail
from soldout.store.rows import ts
from soldout.store.rows_after_sale import (
    ORDER_COLUMNS,
    PAYMENT_COLUMNS,
    audit_from_row,
    audit_row,
    email_outcome_rows,
    event_from_row,
    event_rows,
    notification_from_row,
    notification_rows,
    order_changes,
    order_from_row,
    payment_changes,
    payment_from_row,
    payment_row,
    plan_from_json,
    plan_json,
)
from soldout.store.sqlite.base import Connections, _InBlock, _many, _one, _Repo
from soldout.store.sqlite.reads import OrderReads, PaymentReads
from soldout.store.sqlite.rows import ORDER_CHANGES, ORDER_DATES, UPDATE_PAYMENT
from soldout.store.sqlite.writer import Block, Job

__all__ = [
    "BlockAudit",
    "BlockNotifications",
    "BlockOrders",
    "BlockPayments",
    "BlockPlans",
    "SqliteAudit",
    "SqliteNotifications",
    "SqliteOrders",
    "SqlitePayments",
    "SqlitePlans",
]


_EXPORT = (
    f"SELECT {', '.join('o.' + c for c in ORDER_COLUMNS.split(', '))}, f.email, f.name"
    " FROM orders o JOIN fans f ON f.id = o.fan_id"
)


def _update_orders(orders: Sequence[Order]) -> Job:
    return _many(ORDER_CHANGES, [order_changes(o) for o in orders])


_INSERT_EVENT = "INSERT INTO order_events (order_id, at, kind, detail) VALUES (?, ?, ?, ?)"


class BlockOrders(_InBlock):
    def update(self, orders: Sequence[Order]) -> None:
        self._block.add(_update_orders(orders))

    def record_dates(self, rows: Sequence[tuple[str, str | None, str | None, str]]) -> None:
        self._block.add(_many(ORDER_DATES, rows))

    def add_events(self, events: Sequence[OrderEvent]) -> None:
        self._block.add(_many(_INSERT_EVENT, event_rows(events)))


class SqliteOrders(OrderReads):
    def update(self, orders: Sequence[Order]) -> asyncio.Future[None]:
        return self._writer.submit(_update_orders(orders))

    def record_dates(
        self, rows: Sequence[tuple[str, str | None, str | None, str]]
    ) -> asyncio.Future[None]:
        return self._writer.submit(_many(ORDER_DATES, rows))

    def add_events(self, events: Sequence[OrderEvent]) -> asyncio.Future[None]:
        rows = event_rows(events)
        return self._writer.submit(
            _many(_INSERT_EVENT, rows),
            savepoint=len(rows) > 1,  # one row: one statement, already atomic
        )

    async def events(self, order_id: str) -> Sequence[OrderEvent]:
        return [
            event_from_row(r)
            for r in self._read.execute(
                "SELECT * FROM order_events WHERE order_id = ? ORDER BY id", (order_id,)
            )
        ]

    async def all(self) -> Sequence[Order]:
        return self._orders("", ())

    async def for_fan(self, fan_id: str) -> Sequence[Order]:
        return self._orders("WHERE fan_id = ?", (fan_id,))

    def _orders(self, where: str, args: tuple[object, ...]) -> list[Order]:
        return [
            order_from_row(r)
            for r in self._read.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY paid_at, id",
                args,
            )
        ]

    async def page(
        self, after: tuple[str, str] | None, limit: int, where: OrderFilter
    ) -> Sequence[ExportRow]:
        clauses: list[str] = []
        args: list[object] = []
        if after is not None:
            clauses.append("(o.paid_at, o.id) > (?, ?)")
            args.extend(after)
        for column, value in (
            ("launch_id", where.launch_id),
            ("sku", where.sku),
            ("status", where.status),
        ):
            if value is not None:
                clauses.append(f"o.{column} = ?")
                args.append(value)
        sql = _EXPORT + (" WHERE " + " AND ".join(clauses) if clauses else "")
        rows = self._read.execute(f"{sql} ORDER BY o.paid_at, o.id LIMIT ?", (*args, limit))
        return [ExportRow(order_from_row(r), r["email"], r["name"]) for r in rows]


_INSERT_PAYMENT = f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ({', '.join('?' * 14)})"


class BlockPayments(_InBlock):
    def add(self, payment: PaymentRecord) -> None:
        self._block.add(_one(_INSERT_PAYMENT, payment_row(payment)))

    def update(self, payment: PaymentRecord) -> None:
        self._block.add(_one(UPDATE_PAYMENT, payment_changes(payment)))


class SqlitePayments(PaymentReads):
    def add(self, payment: PaymentRecord) -> asyncio.Future[None]:
        job = _one(_INSERT_PAYMENT, payment_row(payment))
        return self._writer.submit(job, savepoint=False)  # one statement

    def update(self, payment: PaymentRecord) -> asyncio.Future[None]:
        return self._writer.submit(_one(UPDATE_PAYMENT, payment_changes(payment)), savepoint=False)

    async def all(self) -> Sequence[PaymentRecord]:
        return [
            payment_from_row(r)
            for r in self._read.execute(
                f"SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY created_at, id"
            )
        ]

    def note_event(self, provider: str, event_id: str, at: datetime) -> asyncio.Future[bool]:
        def job(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO webhook_events (provider, event_id, received_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (provider, event_id, ts(at)),
            )
            return cursor.rowcount == 1

        return self._writer.submit(job)

    async def last_event_at(self, provider: str) -> datetime | None:
        row = self._read.execute(
            "SELECT max(received_at) FROM webhook_events WHERE provider = ?", (provider,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None


def _put_plan(product_id: str, sku: str, plan: ProductionPlan, at: datetime) -> Job:
    return _one(
        "INSERT INTO production_plans (product_id, sku, plan, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (product_id, sku) DO UPDATE"
        " SET plan = excluded.plan, updated_at = excluded.updated_at",
        (product_id, sku, plan_json(plan), ts(at)),
    )


class BlockPlans(_InBlock):
    def put(self, product_id: str, sku: str, plan: ProductionPlan, at: datetime) -> None:
        self._block.add(_put_plan(product_id, sku, plan, at))


class SqlitePlans(_Repo):
    def put(
        self, product_id: str, sku: str, plan: ProductionPlan, at: datetime
    ) -> asyncio.Future[None]:
        return self._writer.submit(_put_plan(product_id, sku, plan, at))

    async def all(self) -> Sequence[tuple[str, str, ProductionPlan]]:
        return [
            (r["product_id"], r["sku"], plan_from_json(r["plan"]))
            for r in self._read.execute("SELECT * FROM production_plans")
        ]


class SqliteNotifications(_Repo):
    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self._wakes: list[Callable[[], None]] = []

    def add_many(self, notifications: Sequence[Notification]) -> asyncio.Future[None]:
        # Whether a fan can be mailed is read inside the write, from the fan's row: a
        # rehearsal's fans and erased fans never enter the outbox.
        rows = notification_rows(notifications)
        done = self._writer.submit(_many(_INSERT_NOTIFICATION, rows), savepoint=len(rows) > 1)
        self._ring(done, notifications)
        return done

    def _ring(self, done: asyncio.Future[None], notifications: Sequence[Notification]) -> None:
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
        done = self._writer.submit(_remember(progress, notifications, at))
        self._ring(done, notifications)
        return done

    async def reminders(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._read.execute("SELECT key, progress FROM reminders")}

    async def for_fan(self, fan_id: str, limit: int) -> Sequence[Notification]:
        return [
            notification_from_row(r)
            for r in self._read.execute(
                "SELECT * FROM notifications WHERE fan_id = ? ORDER BY created_at DESC, id DESC"
                " LIMIT ?",
                (fan_id, limit),
            )
        ]

    async def due_emails(self, now: datetime, limit: int) -> Sequence[OutgoingEmail]:
        # In the partial index's order (email_next_at, rowid): a page is read straight off
        # the index however many are pending, without sorting them all.
        rows = self._read.execute(
            f"SELECT n.*, {_TO} FROM notifications n {_RECIPIENT}"
            " WHERE n.email_state = 'pending' AND n.email_next_at <= ?"
            f" AND {_MAILABLE} ORDER BY n.email_next_at, n.rowid LIMIT ?",
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
        return {
            r[0]: r[1]
            for r in self._read.execute(
                "SELECT email_state, count(*) FROM notifications GROUP BY email_state"
            )
        }

    async def email_backlog(self) -> int:
        row = self._read.execute(
            "SELECT count(*) FROM notifications WHERE email_state = 'pending'"
        ).fetchone()
        return int(row[0])

    async def next_email_at(self) -> datetime | None:
        row = self._read.execute(
            f"SELECT n.email_next_at FROM notifications n {_RECIPIENT}"
            f" WHERE n.email_state = 'pending' AND {_MAILABLE}"
            " ORDER BY n.email_next_at, n.rowid LIMIT 1"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None


_FAN_MAILABLE = "f.erased_at IS NULL AND f.rehearsal IS NULL"
# A notification is a fan's, or one of the maker's e-mails to a member of the team (its
# `fan_id` the account's id): one outbox for both, the address read from either row.
_RECIPIENT = "LEFT JOIN fans f ON f.id = n.fan_id LEFT JOIN admin_accounts a ON a.id = n.fan_id"
_MAILABLE = f"((f.id IS NOT NULL AND {_FAN_MAILABLE}) OR a.id IS NOT NULL)"
_TO = (
    "coalesce(f.email, a.email) AS to_address, coalesce(f.name, a.name) AS to_name,"
    " f.locale AS to_locale, f.time_zone AS to_zone"
)
_INSERT_NOTIFICATION = (
    "INSERT INTO notifications (id, fan_id, kind, message, data, created_at, email_state,"
    " email_next_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, m.state, CASE m.state WHEN 'pending'"
    " THEN ?6 END FROM (SELECT CASE WHEN ?7 AND (EXISTS (SELECT 1 FROM fans f WHERE f.id = ?2"
    f" AND {_FAN_MAILABLE}) OR EXISTS (SELECT 1 FROM admin_accounts a WHERE a.id = ?2"
    " AND a.maker_mail = 1)) THEN 'pending' ELSE 'none' END AS state) m"
)


def _add_entry(entry: AuditEntry) -> Job:
    return _one(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        audit_row(entry),
    )


class BlockAudit(_InBlock):
    def add(self, entry: AuditEntry) -> None:
        self._block.add(_add_entry(entry))


class SqliteAudit(_Repo):
    def add(self, entry: AuditEntry) -> asyncio.Future[None]:
        return self._writer.submit(_add_entry(entry))

    async def recent(self, limit: int) -> Sequence[AuditEntry]:
        return [
            audit_from_row(r)
            for r in self._read.execute(
                "SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
            )
        ]


class BlockNotifications(_InBlock):
    """Their e-mails ring the outbox's doorbell once the block is durable."""

    def __init__(self, block: Block, repository: SqliteNotifications) -> None:
        super().__init__(block)
        self._repository = repository

    def add_many(self, notifications: Sequence[Notification]) -> None:
        self._block.add(_many(_INSERT_NOTIFICATION, notification_rows(notifications)))
        self._repository._ring(self._block.durable, notifications)

    def emails_done(self, outcomes: Sequence[EmailOutcome]) -> None:
        self._block.add(_emails_done(outcomes))

    def remember(
        self, progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
    ) -> None:
        self._block.add(_remember(progress, notifications, at))
        self._repository._ring(self._block.durable, notifications)


def _remember(
    progress: Mapping[str, str], notifications: Sequence[Notification], at: datetime
) -> Job:
    marks = [(key, mark, ts(at)) for key, mark in progress.items()]
    rows = notification_rows(notifications)

    def job(conn: sqlite3.Connection) -> None:
        # One job, so one savepoint: the mark never lands without its notifications.
        conn.executemany(_INSERT_NOTIFICATION, rows)
        conn.executemany(
            "INSERT INTO reminders (key, progress, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET progress = excluded.progress,"
            " updated_at = excluded.updated_at",
            marks,
        )

    return job


def _emails_done(outcomes: Sequence[EmailOutcome]) -> Job:
    rows = email_outcome_rows(outcomes)
    return _many(
        "UPDATE notifications SET email_state = ?, email_attempts = ?, email_next_at = ?,"
        " email_sent_at = ?, email_error = ? WHERE id = ? AND email_state = 'pending'",
        rows,
    )
