"""Rows <-> domain objects for the SQLite adapter. Times are ISO 8601 text in UTC."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime

from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent, OrderStatus
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Fan, Reservation
from soldout.domain.fulfilment import Adjustment, ProductionPlan, Rate
from soldout.domain.launches import DuplicateRule, Launch, LaunchRules, Mode
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord, PaymentState

__all__ = [
    "claim_from_row",
    "code_from_row",
    "fan_from_row",
    "launch_from_row",
    "order_from_row",
    "payment_changes",
    "payment_from_row",
    "payment_row",
    "plan_from_json",
    "plan_json",
    "reservation_from_row",
    "ts",
]


def ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _req(value: str) -> datetime:
    return datetime.fromisoformat(value)


_SHIPPING_FIELDS = tuple(ShippingAddress.__dataclass_fields__)


def shipping_json(address: ShippingAddress | None) -> str | None:
    """`address.as_dict()` as JSON, without `dataclasses.asdict`'s deep copy of every field
    (a fifth of writing an order's row: the fields are all strings)."""
    if address is None:
        return None
    return json.dumps({name: getattr(address, name) for name in _SHIPPING_FIELDS})


def _shipping(text: str | None) -> ShippingAddress | None:
    return ShippingAddress.from_dict(json.loads(text)) if text else None


LAUNCH_COLUMNS = (
    "id, product_id, title, reservations_open_at, sale_opens_at, sale_closes_at, mode, "
    "reservation_required, per_fan_limit, payment_window_seconds, published, cancelled_at, "
    "created_at, more_rules, paused_at, draw_commitment, drawn_at, rehearsal"
)


def more_rules_json(rules: LaunchRules, draw_units: dict[str, int] | None = None) -> str:
    """The rules added after the first schema (and the units a draw had), as one JSON
    column."""
    return json.dumps(
        {
            "draw_units": draw_units,
            "registered_before": ts(rules.registered_before),
            "waiting_room_rate": rules.waiting_room_rate,
            "waiting_room_burst": rules.waiting_room_burst,
            "waiting_room_shuffle_seconds": rules.waiting_room_shuffle_seconds,
            "pow_difficulty": rules.pow_difficulty,
            "duplicate_rule": rules.duplicate_rule.value,
            "duplicate_limit": rules.duplicate_limit,
        }
    )


def _more_rules(text: str) -> dict[str, object]:
    raw = json.loads(text or "{}")
    more: dict[str, object] = {}
    if raw.get("registered_before"):
        more["registered_before"] = _req(raw["registered_before"])
    raw.pop("draw_units", None)
    for key in (
        "waiting_room_rate",
        "waiting_room_burst",
        "waiting_room_shuffle_seconds",
        "pow_difficulty",
        "duplicate_limit",
    ):
        if raw.get(key) is not None:
            more[key] = raw[key]
    if raw.get("duplicate_rule"):
        more["duplicate_rule"] = DuplicateRule(raw["duplicate_rule"])
    return more


def launch_from_row(row: sqlite3.Row, batch: dict[str, int]) -> Launch:
    return Launch(
        id=row["id"],
        product_id=row["product_id"],
        title=row["title"],
        reservations_open_at=_dt(row["reservations_open_at"]),
        sale_opens_at=_req(row["sale_opens_at"]),
        sale_closes_at=_dt(row["sale_closes_at"]),
        rules=LaunchRules(
            mode=Mode(row["mode"]),
            reservation_required=bool(row["reservation_required"]),
            per_fan_limit=row["per_fan_limit"],
            payment_window_seconds=row["payment_window_seconds"],
            **_more_rules(row["more_rules"]),  # type: ignore[arg-type]
        ),
        batch=batch,
        published=bool(row["published"]),
        cancelled_at=_dt(row["cancelled_at"]),
        created_at=_req(row["created_at"]),
        paused_at=_dt(row["paused_at"]),
        draw_commitment=row["draw_commitment"],
        drawn_at=_dt(row["drawn_at"]),
        draw_units=json.loads(row["more_rules"] or "{}").get("draw_units"),
        rehearsal=row["rehearsal"],
    )


def fan_from_row(row: sqlite3.Row) -> Fan:
    return Fan(
        row["id"],
        row["email"],
        row["name"],
        row["referral_code"],
        row["referred_by"],
        _req(row["created_at"]),
        row["address"],
        row["phone"],
        _shipping(row["shipping"]),
        row["locale"],
        row["time_zone"],
        _dt(row["erased_at"]),
        row["rehearsal"],
    )


def reservation_from_row(row: sqlite3.Row) -> Reservation:
    return Reservation(
        row["id"], row["launch_id"], row["fan_id"], _req(row["created_at"]), row["sku"]
    )


CLAIM_COLUMNS = (
    "id, launch_id, fan_id, sku, quantity, unit_price, currency, created_at, expires_at, "
    "idempotency_key, priority_code, state, closed_at"
)


def claim_row(claim: Claim) -> tuple[object, ...]:
    return (
        claim.id,
        claim.launch_id,
        claim.fan_id,
        claim.sku,
        claim.quantity,
        claim.unit_price,
        claim.currency,
        claim.created_at.isoformat(),
        claim.expires_at.isoformat(),
        claim.idempotency_key,
        claim.priority_code,
        claim.state.value,
        ts(claim.closed_at),
    )


def claim_from_row(row: sqlite3.Row) -> Claim:
    return Claim(
        id=row["id"],
        launch_id=row["launch_id"],
        fan_id=row["fan_id"],
        sku=row["sku"],
        quantity=row["quantity"],
        unit_price=row["unit_price"],
        currency=row["currency"],
        created_at=_req(row["created_at"]),
        expires_at=_req(row["expires_at"]),
        idempotency_key=row["idempotency_key"],
        priority_code=row["priority_code"],
        state=ClaimState(row["state"]),
        closed_at=_dt(row["closed_at"]),
    )


ORDER_COLUMNS = (
    "id, claim_id, launch_id, fan_id, sku, quantity, total, currency, paid_at, "
    "payment_method, payment_reference, idempotency_key, status, ship_date, shipped_at, "
    "carrier, tracking_number, refunded_at, notified_ship_date, shipping"
)
ORDER_DATES = "UPDATE orders SET status = ?, ship_date = ?, notified_ship_date = ? WHERE id = ?"
ORDER_CHANGES = (
    "UPDATE orders SET status = ?, ship_date = ?, shipped_at = ?, carrier = ?,"
    " tracking_number = ?, refunded_at = ? WHERE id = ?"
)


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


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
        _d(order.ship_date),
        ts(order.shipped_at),
        order.carrier,
        order.tracking_number,
        ts(order.refunded_at),
        _d(order.notified_ship_date),
        shipping_json(order.shipping),
    )


def order_changes(order: Order) -> tuple[object, ...]:
    return (
        order.status.value,
        _d(order.ship_date),
        ts(order.shipped_at),
        order.carrier,
        order.tracking_number,
        ts(order.refunded_at),
        order.id,
    )


def order_from_row(row: sqlite3.Row) -> Order:
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
        paid_at=_req(row["paid_at"]),
        payment_method=row["payment_method"],
        payment_reference=row["payment_reference"],
        idempotency_key=row["idempotency_key"],
        status=OrderStatus(row["status"]),
        ship_date=date.fromisoformat(ship) if ship else None,
        shipped_at=_dt(row["shipped_at"]),
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        refunded_at=_dt(row["refunded_at"]),
        notified_ship_date=date.fromisoformat(told)
        if (told := row["notified_ship_date"])
        else None,
        shipping=_shipping(row["shipping"]),
    )


def event_from_row(row: sqlite3.Row) -> OrderEvent:
    return OrderEvent(row["order_id"], _req(row["at"]), row["kind"], row["detail"])


PAYMENT_COLUMNS = (
    "id, claim_id, fan_id, provider, method, amount, currency, idempotency_key, fingerprint, "
    "state, reference, reason, created_at, updated_at"
)


INSERT_ORDER = f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES ({', '.join('?' * 20)})"
# Only what changes after the insert: an UPDATE that names an indexed column rewrites that
# index's entry, here the unique (fan_id, idempotency_key) one: one more page of the index
# written at every payment's capture, for a value that never changes (`payment_changes`).
UPDATE_PAYMENT = (
    "UPDATE payments SET state = ?, reference = ?, reason = ?, updated_at = ? WHERE id = ?"
)


def payment_changes(p: PaymentRecord) -> tuple[object, ...]:
    """The parameters of `UPDATE_PAYMENT`."""
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


def payment_from_row(row: sqlite3.Row) -> PaymentRecord:
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
        created_at=_req(row["created_at"]),
        updated_at=_req(row["updated_at"]),
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


def notification_from_row(row: sqlite3.Row) -> Notification:
    return Notification(
        row["id"],
        row["fan_id"],
        row["kind"],
        row["message"],
        _req(row["created_at"]),
        json.loads(row["data"]),
        row["email_state"] != "none",
    )


def code_from_row(row: sqlite3.Row) -> PriorityCode:
    return PriorityCode(
        row["code"],
        row["launch_id"],
        row["sku"],
        _req(row["created_at"]),
        row["redeemed_by_claim"],
        _dt(row["expires_at"]),
        bool(row["any_sku"]),
        row["granted_to"],
    )
