"""Rows <-> domain objects of what follows a sale (orders and their events, payments,
production plans, notifications and their e-mails, the audit log), the same for both
adapters (see `rows.py`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import orjson

from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Order, OrderEvent, OrderStatus
from soldout.domain.fulfilment import Adjustment, ProductionPlan, Rate
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.domain.refunds import part_refunds_from_json, part_refunds_json
from soldout.store.ports import EmailOutcome
from soldout.store.rows import Row, dt, req, shipping_from_json, shipping_json, ts

__all__ = [
    "ORDER_COLUMNS",
    "PAYMENT_COLUMNS",
    "RETURNED",
    "audit_from_row",
    "audit_row",
    "email_outcome_rows",
    "event_from_row",
    "event_rows",
    "notification_from_row",
    "notification_rows",
    "order_changes",
    "order_from_row",
    "order_row",
    "payment_changes",
    "payment_from_row",
    "payment_row",
    "plan_from_json",
    "plan_json",
]


ORDER_COLUMNS = (
    "id, claim_id, launch_id, fan_id, sku, quantity, total, currency, paid_at, "
    "payment_method, payment_reference, idempotency_key, status, ship_date, shipped_at, "
    "carrier, tracking_number, refunded_at, notified_ship_date, shipping, unit_cost, refunds"
)

# orders refunded after they shipped: the predicate of the `orders_returned` index
RETURNED = "status = 'refunded' AND shipped_at IS NOT NULL"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _refunds_text(order: Order) -> str | None:
    kept = part_refunds_json(order.refunds)
    return None if kept is None else json.dumps(kept)


def order_row(order: Order) -> tuple[object, ...]:
    return (
        order.id,
        order.claim_id,
        order.launch_id,
        order.fan_id,
        order.sku,
        order.quantity,
        order.total,
        order.currency,
        order.paid_at.isoformat(),
        order.payment_method,
        order.payment_reference,
        order.idempotency_key,
        order.status.value,
        _day(order.ship_date),
        ts(order.shipped_at),
        order.carrier,
        order.tracking_number,
        ts(order.refunded_at),
        _day(order.notified_ship_date),
        shipping_json(order.shipping),
        order.unit_cost,
        _refunds_text(order),
    )


def order_changes(order: Order) -> tuple[object, ...]:
    return (
        order.status.value,
        _day(order.ship_date),
        ts(order.shipped_at),
        order.carrier,
        order.tracking_number,
        ts(order.refunded_at),
        _refunds_text(order),
        order.id,
    )


def order_from_row(row: Row) -> Order:
    ship = row["ship_date"]
    return Order(
        id=row["id"],
        claim_id=row["claim_id"],
        launch_id=row["launch_id"],
        fan_id=row["fan_id"],
        sku=row["sku"],
        quantity=row["quantity"],
        total=row["total"],
        currency=row["currency"],
        paid_at=req(row["paid_at"]),
        payment_method=row["payment_method"],
        payment_reference=row["payment_reference"],
        idempotency_key=row["idempotency_key"],
        status=OrderStatus(row["status"]),
        ship_date=date.fromisoformat(ship) if ship else None,
        shipped_at=dt(row["shipped_at"]),
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        refunded_at=dt(row["refunded_at"]),
        notified_ship_date=date.fromisoformat(told)
        if (told := row["notified_ship_date"])
        else None,
        shipping=shipping_from_json(row["shipping"]),
        unit_cost=row["unit_cost"],
        refunds=part_refunds_from_json(json.loads(text) if (text := row["refunds"]) else None),
    )


def event_from_row(row: Row) -> OrderEvent:
    return OrderEvent(row["order_id"], req(row["at"]), row["kind"], row["detail"])


PAYMENT_COLUMNS = (
    "id, claim_id, fan_id, provider, method, amount, currency, idempotency_key, fingerprint, "
    "state, reference, reason, created_at, updated_at"
)


def event_rows(events: Sequence[OrderEvent]) -> list[tuple[object, ...]]:
    """order_id, at, kind, detail: one row per event."""
    if events and len({e.at for e in events}) == 1:  # one change: one timestamp text
        at = ts(events[0].at)
        return [(e.order_id, at, e.kind, e.detail) for e in events]
    return [(e.order_id, ts(e.at), e.kind, e.detail) for e in events]


def payment_changes(p: PaymentRecord) -> tuple[object, ...]:
    """The parameters of an UPDATE of a payment's state, reference, reason and updated_at,
    by id (only what changes after the insert: see `store/sqlite/rows.py`)."""
    return (p.state.value, p.reference, p.reason, p.updated_at.isoformat(), p.id)


def payment_row(p: PaymentRecord) -> tuple[object, ...]:
    return (
        p.id,
        p.claim_id,
        p.fan_id,
        p.provider,
        p.method,
        p.amount,
        p.currency,
        p.idempotency_key,
        p.fingerprint,
        p.state.value,
        p.reference,
        p.reason,
        p.created_at.isoformat(),
        p.updated_at.isoformat(),
    )


def payment_from_row(row: Row) -> PaymentRecord:
    return PaymentRecord(
        id=row["id"],
        claim_id=row["claim_id"],
        fan_id=row["fan_id"],
        provider=row["provider"],
        method=row["method"],
        amount=row["amount"],
        currency=row["currency"],
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        created_at=req(row["created_at"]),
        updated_at=req(row["updated_at"]),
        state=PaymentState(row["state"]),
        reference=row["reference"],
        reason=row["reason"],
    )


def plan_json(plan: ProductionPlan) -> str:
    return json.dumps(
        {
            "starts_on": plan.starts_on.isoformat(),
            "produced": plan.produced,
            "rates": [[r.starts_on.isoformat(), r.units_per_day] for r in plan.rates],
            "adjustments": [[a.on.isoformat(), a.units, a.note] for a in plan.adjustments],
        }
    )


def plan_from_json(text: str) -> ProductionPlan:
    raw = json.loads(text)
    return ProductionPlan(
        starts_on=date.fromisoformat(raw["starts_on"]),
        produced=raw["produced"],
        rates=tuple(Rate(date.fromisoformat(d), n) for d, n in raw["rates"]),
        adjustments=tuple(
            Adjustment(date.fromisoformat(d), n, note) for d, n, note in raw["adjustments"]
        ),
    )


def notification_from_row(row: Row) -> Notification:
    return Notification(
        row["id"],
        row["fan_id"],
        row["kind"],
        row["message"],
        req(row["created_at"]),
        json.loads(row["data"]),
        row["email_state"] != "none",
    )


def notification_rows(notifications: Sequence[Notification]) -> list[tuple[object, ...]]:
    """id, fan_id, kind, message, data, created_at and whether to e-mail it (0 or 1), one
    row per notification."""
    return [
        (
            n.id,
            n.fan_id,
            n.kind,
            n.message,
            orjson.dumps(n.data).decode(),
            ts(n.created_at),
            int(n.email),
        )
        for n in notifications
    ]


def email_outcome_rows(outcomes: Sequence[EmailOutcome]) -> list[tuple[object, ...]]:
    """email_state, email_attempts, email_next_at, email_sent_at, email_error, then the
    notification's id: one row per outcome."""
    return [
        (
            o.state,
            o.attempts,
            ts(o.next_at) if o.state == "pending" else None,
            ts(o.at) if o.state == "sent" else None,
            o.error,
            o.notification_id,
        )
        for o in outcomes
    ]


def audit_row(entry: AuditEntry) -> tuple[object, ...]:
    """at, actor, action, subject, detail."""
    return (ts(entry.at), entry.actor, entry.action, entry.subject, json.dumps(entry.detail))


def audit_from_row(row: Row) -> AuditEntry:
    return AuditEntry(
        req(row["at"]), row["actor"], row["action"], row["subject"], json.loads(row["detail"])
    )
