"""Domain objects as the JSON the API answers with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from soldout.domain.claims import Claim, Order, OrderEvent
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
from soldout.engine.book import LaunchBook
from soldout.engine.orders import OrderDesk
from soldout.services.media import image_urls

__all__ = [
    "claim_status_view",
    "claim_view",
    "launch_view",
    "notification_view",
    "order_view",
    "payment_view",
    "plan_view",
    "product_view",
    "stats_view",
]


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def product_view(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "skus": [
            {
                "code": s.code,
                "name": s.name,
                "price": s.price.amount,
                "cost": s.cost_amount,
                "currency": s.price.currency,
            }
            for s in product.skus
        ],
        "specs": [{"label": label, "value": value} for label, value in product.specs],
        "images": [
            {"id": m, "urls": image_urls(m), "og_url": f"/media/{m}-og"} for m in product.images
        ],
        "created_at": _t(product.created_at),
    }


def launch_view(book: LaunchBook, now: datetime, orders: OrderDesk | None = None) -> dict[str, Any]:
    """`orders` given: each SKU also shows the ship date one more unit ordered now would get."""
    launch, rules = book.launch, book.launch.rules
    skus = []
    for sku in book.product.skus:
        stock = book.stock.get(sku.code)
        if stock is None:
            continue
        left = book.open_units(sku.code)  # a drawn unit no backup waits for is not "left"
        skus.append(
            {
                "code": sku.code,
                "name": sku.name,
                "price": sku.price.amount,
                "currency": sku.price.currency,
                "batch": stock.batch,
                "available": left,
                "set_aside": stock.set_aside,
                "held": stock.held,
                # units gone from the batch to buyers (a unit returned after it shipped
                # too): the public row adds up to the batch; the maker's "Sold" excludes
                # returns (`LaunchBook.sold`)
                "sold": stock.paid,
                "sold_out": left == 0,
                "next_ship_date": _d(orders.estimate_for(book.product.id, sku.code, 1))
                if orders
                else None,
            }
        )
    return {
        "id": launch.id,
        "product_id": launch.product_id,
        "product_name": book.product.name,
        "title": launch.title,
        "status": book.status(now).value,
        "mode": rules.mode.value,
        "reservation_required": rules.reservation_required,
        "per_fan_limit": rules.per_fan_limit,
        "payment_window_seconds": rules.payment_window_seconds,
        "registered_before": _t(rules.registered_before),
        "waiting_room": rules.waiting_room_rate is not None,
        "waiting_room_rate": rules.waiting_room_rate,
        "waiting_room_burst": rules.waiting_room_burst,
        "waiting_room_shuffle_seconds": rules.waiting_room_shuffle_seconds,
        "pow_difficulty": rules.pow_difficulty,
        "duplicate_rule": rules.duplicate_rule.value,
        "duplicate_limit": rules.duplicate_limit,
        "rehearsal": launch.rehearsal,  # a rehearsal run's launch (only its fans see it)
        "paused_at": _t(launch.paused_at),
        "draw_commitment": launch.draw_commitment,
        "drawn_at": _t(launch.drawn_at),
        "reservations_open_at": _t(launch.reservations_open_at),
        "sale_opens_at": _t(launch.sale_opens_at),
        "sale_closes_at": _t(launch.sale_closes_at),
        "cancelled_at": _t(launch.cancelled_at),
        "reservations": book.reservation_count,
        "skus": skus,
        "server_time": now.isoformat(),
        "poll_after_seconds": _poll_after(book, now),
    }


def _poll_after(book: LaunchBook, now: datetime) -> float:
    """How soon a page should ask again: often around the opening and during the sale,
    rarely otherwise (the launch view is computed from memory, but a crowd is a crowd)."""
    to_open = (book.launch.sale_opens_at - now).total_seconds()
    if 0 < to_open <= 30:
        return 1.0
    if book.status(now).value in ("on_sale", "paused"):
        return 3.0
    return 10.0


def stats_view(book: LaunchBook, claims: dict[str, int], now: datetime) -> dict[str, Any]:
    """The maker's counts. `available` is every unsold unit not set aside nor held; of
    those, `open` is what fans can still claim (the launch view's `available`) and
    `unoffered` what none can (a drawn launch's unit no backup waits for). `status` is
    `sold_out` once no SKU has an `open` unit, whatever `available` says."""
    return {
        "launch_id": book.launch.id,
        "status": book.status(now).value,
        "skus": {
            code: {
                "batch": s.batch,
                "available": s.available,
                "open": book.open_units(code),
                "unoffered": book.unoffered(code),
                "set_aside": s.set_aside,
                "held": s.held,
                "paid": s.paid,
            }
            for code, s in book.stock.items()
        },
        "claims": claims,
        "reservations": book.reservation_count,
        "server_time": now.isoformat(),
    }


def claim_view(claim: Claim) -> dict[str, Any]:
    """The claim as first answered: only fields that never change, so replays are equal."""
    return {
        "id": claim.id,
        "launch_id": claim.launch_id,
        "sku": claim.sku,
        "quantity": claim.quantity,
        "unit_price": claim.unit_price,
        "total": claim.total_amount,
        "currency": claim.currency,
        "priority_code": claim.priority_code,
        "created_at": claim.created_at.isoformat(),
        "expires_at": claim.expires_at.isoformat(),
    }


def claim_status_view(
    claim: Claim,
    order: Order | None,
    payment: PaymentRecord | None = None,
    estimate: date | None = None,
) -> dict[str, Any]:
    """A claim now: its state, its order once paid, its latest payment attempt, and (while
    held) the ship date it would get if paid now."""
    return {
        **claim_view(claim),
        "state": claim.state.value,
        "closed_at": _t(claim.closed_at),
        "order_id": order.id if order else None,
        "payment": payment_view(payment) if payment else None,
        "estimated_ship_date": _d(estimate) if claim.is_held else None,
    }


def payment_view(payment: PaymentRecord) -> dict[str, Any]:
    return {
        "id": payment.id,
        "claim_id": payment.claim_id,
        "state": payment.state.value,
        "amount": payment.amount,
        "currency": payment.currency,
        "method": payment.method,
        "reason": payment.reason,
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
    }


def order_view(order: Order, history: Sequence[OrderEvent] | None = None) -> dict[str, Any]:
    view = {
        "id": order.id,
        "claim_id": order.claim_id,
        "launch_id": order.launch_id,
        "sku": order.sku,
        "quantity": order.quantity,
        "total": order.total,
        "currency": order.currency,
        "status": order.status.value,
        "paid_at": order.paid_at.isoformat(),
        "payment_method": order.payment_method,
        "ship_date": _d(order.ship_date),
        "shipped_at": _t(order.shipped_at),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "refunded_at": _t(order.refunded_at),
        "refunded_amount": order.refunded_amount,  # minor units: all of it once refunded
        "refunds": [  # part refunds; `pending`: the provider's answer is not recorded yet
            {"id": r.id, "amount": r.amount, "reason": r.reason, "pending": not r.done}
            | {"at": (r.done_at or r.asked_at).isoformat()}
            for r in order.refunds
        ],
    }
    if history is not None:
        view["history"] = [
            {"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in history
        ]
    return view


def notification_view(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "kind": note.kind,
        "message": note.message,
        "created_at": note.created_at.isoformat(),
        "data": note.data,
    }


def plan_view(plan: ProductionPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "starts_on": plan.starts_on.isoformat(),
        "produced": plan.produced,
        "rates": [
            {"starts_on": r.starts_on.isoformat(), "units_per_day": r.units_per_day}
            for r in plan.rates
        ],
        "adjustments": [
            {"on": a.on.isoformat(), "units": a.units, "note": a.note} for a in plan.adjustments
        ],
    }


def reservation_view(reservation: Reservation) -> dict[str, Any]:
    return {
        "id": reservation.id,
        "launch_id": reservation.launch_id,
        "fan_id": reservation.fan_id,
        "sku": reservation.sku,
        "created_at": reservation.created_at.isoformat(),
    }


def code_view(code: PriorityCode, now: datetime) -> dict[str, Any]:
    """`sku` is what the code is for: null for any SKU (the fan chooses); `unit_sku` is
    where its unit is: set aside now, or bought once redeemed (null once expired)."""
    return {
        "code": code.code,
        "launch_id": code.launch_id,
        "sku": code.for_sku,
        "any_sku": code.any_sku,
        "unit_sku": code.sku if code.is_spent or code.holds_unit(now) else None,
        "created_at": code.created_at.isoformat(),
        "expires_at": _t(code.expires_at),
        "redeemed": code.is_spent,
        "expired": code.is_expired(now),
    }
