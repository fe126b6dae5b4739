"""Rows <-> domain objects, the same for both adapters (SQLite and PostgreSQL keep the
same columns: times as ISO 8601 text in UTC, JSON as text). A row is anything read by
column name: a `sqlite3.Row` or a PostgreSQL dict row. What follows a sale (orders,
payments, notifications, ...) is in `rows_after_sale.py`, fans, the team,
sessions, media and the shop's settings in `rows_access.py`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.launches import DuplicateRule, Launch, LaunchRules, Mode
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku, given_cost

__all__ = [
    "CLAIM_COLUMNS",
    "LAUNCH_COLUMNS",
    "Row",
    "claim_from_row",
    "claim_row",
    "code_from_row",
    "code_row",
    "dt",
    "launch_from_row",
    "launch_values",
    "more_rules_json",
    "products_from_rows",
    "req",
    "reservation_from_row",
    "shipping_from_json",
    "shipping_json",
    "ts",
]

Row = Mapping[str, Any]


def ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def req(value: str) -> datetime:
    return datetime.fromisoformat(value)


_SHIPPING_FIELDS = tuple(ShippingAddress.__dataclass_fields__)


def shipping_json(address: ShippingAddress | None) -> str | None:
    """`address.as_dict()` as JSON, without `dataclasses.asdict`'s deep copy of every field
    (a fifth of writing an order's row: the fields are all strings)."""
    if address is None:
        return None
    return json.dumps({name: getattr(address, name) for name in _SHIPPING_FIELDS})


def shipping_from_json(text: str | None) -> ShippingAddress | None:
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
        more["registered_before"] = req(raw["registered_before"])
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


def launch_from_row(row: Row, batch: dict[str, int]) -> Launch:
    return Launch(
        id=row["id"],
        product_id=row["product_id"],
        title=row["title"],
        reservations_open_at=dt(row["reservations_open_at"]),
        sale_opens_at=req(row["sale_opens_at"]),
        sale_closes_at=dt(row["sale_closes_at"]),
        rules=LaunchRules(
            mode=Mode(row["mode"]),
            reservation_required=bool(row["reservation_required"]),
            per_fan_limit=row["per_fan_limit"],
            payment_window_seconds=row["payment_window_seconds"],
            **_more_rules(row["more_rules"]),  # type: ignore[arg-type]
        ),
        batch=batch,
        published=bool(row["published"]),
        cancelled_at=dt(row["cancelled_at"]),
        created_at=req(row["created_at"]),
        paused_at=dt(row["paused_at"]),
        draw_commitment=row["draw_commitment"],
        drawn_at=dt(row["drawn_at"]),
        draw_units=json.loads(row["more_rules"] or "{}").get("draw_units"),
        rehearsal=row["rehearsal"],
    )


def reservation_from_row(row: Row) -> Reservation:
    return Reservation(
        row["id"], row["launch_id"], row["fan_id"], req(row["created_at"]), row["sku"]
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


def claim_from_row(row: Row) -> Claim:
    return Claim(
        id=row["id"],
        launch_id=row["launch_id"],
        fan_id=row["fan_id"],
        sku=row["sku"],
        quantity=row["quantity"],
        unit_price=row["unit_price"],
        currency=row["currency"],
        created_at=req(row["created_at"]),
        expires_at=req(row["expires_at"]),
        idempotency_key=row["idempotency_key"],
        priority_code=row["priority_code"],
        state=ClaimState(row["state"]),
        closed_at=dt(row["closed_at"]),
    )


def code_from_row(row: Row) -> PriorityCode:
    return PriorityCode(
        row["code"],
        row["launch_id"],
        row["sku"],
        req(row["created_at"]),
        row["redeemed_by_claim"],
        dt(row["expires_at"]),
        bool(row["any_sku"]),
        row["granted_to"],
    )


def launch_values(launch: Launch) -> tuple[object, ...]:
    """The launch's row: `LAUNCH_COLUMNS` without `id`, then `id` (last, for an UPDATE's
    WHERE as for an INSERT)."""
    rules = launch.rules
    return (
        launch.product_id,
        launch.title,
        ts(launch.reservations_open_at),
        ts(launch.sale_opens_at),
        ts(launch.sale_closes_at),
        rules.mode.value,
        int(rules.reservation_required),
        rules.per_fan_limit,
        rules.payment_window_seconds,
        int(launch.published),
        ts(launch.cancelled_at),
        ts(launch.created_at),
        more_rules_json(rules, launch.draw_units),
        ts(launch.paused_at),
        launch.draw_commitment,
        ts(launch.drawn_at),
        launch.rehearsal,
        launch.id,
    )


def products_from_rows(rows: Iterable[Row], sku_rows: Iterable[Row]) -> list[Product]:
    """Products from their rows and their SKUs' rows (in `position` order)."""
    skus: dict[str, list[Sku]] = {}
    for s in sku_rows:
        price = Money(s["price"], s["currency"])
        skus.setdefault(s["product_id"], []).append(
            Sku(s["code"], s["name"], price, given_cost(s["cost"], s["currency"]))
        )
    return [
        Product(
            r["id"],
            r["name"],
            r["description"],
            tuple(skus.get(r["id"], [])),
            datetime.fromisoformat(r["created_at"]),
            specs=tuple((label, value) for label, value in json.loads(r["specs"])),
            images=tuple(json.loads(r["images"])),
            rehearsal=r["rehearsal"],
        )
        for r in rows
    ]


def code_row(c: PriorityCode) -> tuple[object, ...]:
    """code, launch_id, sku, created_at, expires_at, any_sku, granted_to."""
    return (
        c.code,
        c.launch_id,
        c.sku,
        ts(c.created_at),
        ts(c.expires_at),
        int(c.any_sku),
        c.granted_to,
    )
