"""The PostgreSQL repositories of what follows a sale: orders (history, dates, pages for
exports), payments and seen webhook events, production plans and the audit log (the
notifications outbox is in `outbox.py`, the targeted reads of orders and payments in
`reads.py`). Writes of many rows are one statement each (`unnest`), where SQLite runs one
statement per row. Each write's job is made by one function, which the repository submits
alone and its `Block...` twin adds to a transaction block."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Order, OrderEvent
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.payments import PaymentRecord
from soldout.store.ports import ExportRow, OrderFilter
from soldout.store.postgresql.base import InBlock, Repo, columns_of, one, pg, update_from
from soldout.store.postgresql.reads import OrderReads, PaymentReads
from soldout.store.postgresql.writer import Do, Into
from soldout.store.rows import ts
from soldout.store.rows_after_sale import (
    ORDER_COLUMNS,
    PAYMENT_COLUMNS,
    audit_from_row,
    audit_row,
    event_from_row,
    event_rows,
    order_changes,
    order_from_row,
    payment_changes,
    payment_from_row,
    payment_row,
    plan_from_json,
    plan_json,
)
from soldout.store.sqlite.rows import UPDATE_PAYMENT

__all__ = [
    "BlockAudit",
    "BlockOrders",
    "BlockPayments",
    "BlockPlans",
    "PgAudit",
    "PgOrders",
    "PgPayments",
    "PgPlans",
]

_EXPORT = (
    f"SELECT {', '.join('o.' + c for c in ORDER_COLUMNS.split(', '))}, f.email, f.name"
    " FROM orders o JOIN fans f ON f.id = o.fan_id"
)
_CHANGES = update_from(
    "orders",
    "status, ship_date, shipped_at, carrier, tracking_number, refunded_at, refunds",
    "tttttttt",
)
_DATES = update_from("orders", "status, ship_date, notified_ship_date", "tttt")
_EVENTS = Into("order_events", ("order_id", "at", "kind", "detail"), ("text",) * 4)


def _update_orders(orders: Sequence[Order]) -> Do:
    return one(_CHANGES, columns_of([order_changes(o) for o in orders], 8))


def _record_dates(rows: Sequence[tuple[str, str | None, str | None, str]]) -> Do:
    return one(_DATES, columns_of(rows, 4))


def _add_events(events: Sequence[OrderEvent]) -> Do:
    return one(_EVENTS.sql, _EVENTS.arrays(event_rows(events)))


class BlockOrders(InBlock):
    def update(self, orders: Sequence[Order]) -> None:
        self._block.add(_update_orders(orders))

    def record_dates(self, rows: Sequence[tuple[str, str | None, str | None, str]]) -> None:
        self._block.add(_record_dates(rows))

    def add_events(self, events: Sequence[OrderEvent]) -> None:
        self._block.add(_add_events(events))


class PgOrders(OrderReads):
    def update(self, orders: Sequence[Order]) -> asyncio.Future[None]:
        return self._writer.submit(_update_orders(orders))

    def record_dates(
        self, rows: Sequence[tuple[str, str | None, str | None, str]]
    ) -> asyncio.Future[None]:
        return self._writer.submit(_record_dates(rows))

    def add_events(self, events: Sequence[OrderEvent]) -> asyncio.Future[None]:
        return self._writer.submit(_add_events(events))

    async def events(self, order_id: str) -> Sequence[OrderEvent]:
        rows = await self._rows(
            "SELECT * FROM order_events WHERE order_id = %b ORDER BY id", (order_id,)
        )
        return [event_from_row(r) for r in rows]

    async def all(self) -> Sequence[Order]:
        return await self._orders("", ())

    async def for_fan(self, fan_id: str) -> Sequence[Order]:
        return await self._orders("WHERE fan_id = %b", (fan_id,))

    async def _orders(self, where: str, args: tuple[object, ...]) -> list[Order]:
        rows = await self._rows(
            f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY paid_at, id", args
        )
        return [order_from_row(r) for r in rows]

    async def page(
        self, after: tuple[str, str] | None, limit: int, where: OrderFilter
    ) -> Sequence[ExportRow]:
        clauses: list[str] = []
        args: list[object] = []
        if after is not None:
            clauses.append("(o.paid_at, o.id) > (%b, %b)")
            args.extend(after)
        for column, value in (
            ("launch_id", where.launch_id),
            ("sku", where.sku),
            ("status", where.status),
        ):
            if value is not None:
                clauses.append(f"o.{column} = %b")
                args.append(value)
        sql = _EXPORT + (" WHERE " + " AND ".join(clauses) if clauses else "")
        rows = await self._rows(f"{sql} ORDER BY o.paid_at, o.id LIMIT %b", (*args, limit))
        return [ExportRow(order_from_row(r), r["email"], r["name"]) for r in rows]


_INSERT_PAYMENT = pg(f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ({', '.join('?' * 14)})")


def _add_payment(payment: PaymentRecord) -> Do:
    return one(_INSERT_PAYMENT, payment_row(payment))


def _update_payment(payment: PaymentRecord) -> Do:
    return one(pg(UPDATE_PAYMENT), payment_changes(payment))


class BlockPayments(InBlock):
    def add(self, payment: PaymentRecord) -> None:
        self._block.add(_add_payment(payment))

    def update(self, payment: PaymentRecord) -> None:
        self._block.add(_update_payment(payment))


class PgPayments(PaymentReads):
    def add(self, payment: PaymentRecord) -> asyncio.Future[None]:
        return self._writer.submit(_add_payment(payment))

    def update(self, payment: PaymentRecord) -> asyncio.Future[None]:
        return self._writer.submit(_update_payment(payment))

    async def all(self) -> Sequence[PaymentRecord]:
        rows = await self._rows(f"SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY created_at, id")
        return [payment_from_row(r) for r in rows]

    def note_event(self, provider: str, event_id: str, at: datetime) -> asyncio.Future[bool]:
        note = (
            "INSERT INTO webhook_events (provider, event_id, received_at) VALUES (%b, %b, %b)"
            " ON CONFLICT DO NOTHING",
            (provider, event_id, ts(at)),
        )
        return self._writer.submit(Do([note], count=True))

    async def last_event_at(self, provider: str) -> datetime | None:
        row = await self._first(
            "SELECT max(received_at) AS at FROM webhook_events WHERE provider = %b", (provider,)
        )
        return datetime.fromisoformat(row["at"]) if row and row["at"] else None


def _put_plan(product_id: str, sku: str, plan: ProductionPlan, at: datetime) -> Do:
    return one(
        "INSERT INTO production_plans (product_id, sku, plan, updated_at)"
        " VALUES (%b, %b, %b, %b) ON CONFLICT (product_id, sku) DO UPDATE"
        " SET plan = excluded.plan, updated_at = excluded.updated_at",
        (product_id, sku, plan_json(plan), ts(at)),
    )


class BlockPlans(InBlock):
    def put(self, product_id: str, sku: str, plan: ProductionPlan, at: datetime) -> None:
        self._block.add(_put_plan(product_id, sku, plan, at))


class PgPlans(Repo):
    def put(
        self, product_id: str, sku: str, plan: ProductionPlan, at: datetime
    ) -> asyncio.Future[None]:
        return self._writer.submit(_put_plan(product_id, sku, plan, at))

    async def all(self) -> Sequence[tuple[str, str, ProductionPlan]]:
        rows = await self._rows("SELECT * FROM production_plans ORDER BY product_id, sku")
        return [(r["product_id"], r["sku"], plan_from_json(r["plan"])) for r in rows]


def _add_entry(entry: AuditEntry) -> Do:
    return one(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (%b, %b, %b, %b, %b)",
        audit_row(entry),
    )


class BlockAudit(InBlock):
    def add(self, entry: AuditEntry) -> None:
        self._block.add(_add_entry(entry))


class PgAudit(Repo):
    def add(self, entry: AuditEntry) -> asyncio.Future[None]:
        return self._writer.submit(_add_entry(entry))

    async def recent(self, limit: int) -> Sequence[AuditEntry]:
        rows = await self._rows("SELECT * FROM audit_log ORDER BY id DESC LIMIT %b", (limit,))
        return [audit_from_row(r) for r in rows]
