"""Domain objects as the JSON the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soldout.domain.claims import Claim, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.products import Product
from soldout.engine.book import LaunchBook

__all__ = ["claim_view", "launch_view", "order_view", "product_view", "stats_view"]


def _t(value: datetime | None) -> str | None:
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
                "cost": s.cost.amount,
                "currency": s.price.currency,
            }
            for s in product.skus
        ],
        "created_at": _t(product.created_at),
    }


def launch_view(book: LaunchBook, now: datetime) -> dict[str, Any]:
    launch, rules = book.launch, book.launch.rules
    skus = []
    for sku in book.product.skus:
        stock = book.stock.get(sku.code)
        if stock is None:
            continue
        skus.append(
            {
                "code": sku.code,
                "name": sku.name,
                "price": sku.price.amount,
                "currency": sku.price.currency,
                "batch": stock.batch,
                "available": stock.available,
                "set_aside": stock.set_aside,
                "sold_out": stock.available == 0,
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
        "reservations_open_at": _t(launch.reservations_open_at),
        "sale_opens_at": _t(launch.sale_opens_at),
        "sale_closes_at": _t(launch.sale_closes_at),
        "cancelled_at": _t(launch.cancelled_at),
        "reservations": len(book.reservations),
        "skus": skus,
        "server_time": now.isoformat(),
    }


def stats_view(book: LaunchBook, claims: dict[str, int], now: datetime) -> dict[str, Any]:
    return {
        "launch_id": book.launch.id,
        "status": book.status(now).value,
        "skus": {
            code: {
                "batch": s.batch,
                "available": s.available,
                "set_aside": s.set_aside,
                "held": s.held,
                "paid": s.paid,
            }
            for code, s in book.stock.items()
        },
        "claims": claims,
        "reservations": len(book.reservations),
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


def claim_status_view(claim: Claim, order: Order | None) -> dict[str, Any]:
    return {
        **claim_view(claim),
        "state": claim.state.value,
        "closed_at": _t(claim.closed_at),
        "order_id": order.id if order else None,
    }


def order_view(order: Order) -> dict[str, Any]:
    return {
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
        "ship_date": order.ship_date.isoformat() if order.ship_date else None,
    }


def reservation_view(reservation: Reservation) -> dict[str, Any]:
    return {
        "id": reservation.id,
        "launch_id": reservation.launch_id,
        "fan_id": reservation.fan_id,
        "created_at": reservation.created_at.isoformat(),
    }


def code_view(code: PriorityCode) -> dict[str, Any]:
    return {
        "code": code.code,
        "launch_id": code.launch_id,
        "sku": code.sku,
        "created_at": code.created_at.isoformat(),
        "redeemed": code.is_spent,
    }
