"""What shipping writes beside the orders: a shipment (an open order handed to a carrier)
and a tracking change (a shipped order's carrier and tracking number set or corrected),
each with its history line and the notification that tells the fan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.claims import Order, OrderEvent
from soldout.domain.notifications import Notification
from soldout.ids import new_id

__all__ = ["Retrack", "Shipment", "retracked", "shipped"]


@dataclass(frozen=True, slots=True)
class Shipment:
    order: Order
    carrier: str
    tracking_number: str | None


@dataclass(frozen=True, slots=True)
class Retrack:
    """A shipped order's carrier and tracking number, set or corrected."""

    order: Order
    carrier: str
    tracking_number: str


def shipped(
    shipments: Sequence[Shipment], now: datetime
) -> tuple[list[OrderEvent], list[Notification]]:
    """Mark each order shipped; its history line and the fan's notice."""
    events: list[OrderEvent] = []
    notes: list[Notification] = []
    for s in shipments:
        s.order.ship(now, s.carrier, s.tracking_number)
        tracking = f", tracking {s.tracking_number}" if s.tracking_number else ""
        events.append(OrderEvent(s.order.id, now, "shipped", f"shipped by {s.carrier}{tracking}"))
        notes.append(
            Notification(
                new_id("ntf"),
                s.order.fan_id,
                "order_shipped",
                f"Order {s.order.id} shipped by {s.carrier}{tracking}.",
                now,
                {"order_id": s.order.id, "carrier": s.carrier, "tracking": s.tracking_number},
            )
        )
    return events, notes


def retracked(
    retracks: Sequence[Retrack], now: datetime
) -> tuple[list[OrderEvent], list[Notification]]:
    """Set each order's carrier and tracking number; its history line and the fan's notice
    (which names the number it replaces, if the fan was given one)."""
    events: list[OrderEvent] = []
    notes: list[Notification] = []
    for r in retracks:
        before = r.order.tracking_number
        r.order.retrack(r.carrier, r.tracking_number)
        words = f"{r.carrier}, tracking {r.tracking_number}"
        events.append(OrderEvent(r.order.id, now, "tracking_changed", words))
        data = {"order_id": r.order.id, "carrier": r.carrier, "tracking": r.tracking_number}
        notes.append(
            Notification(
                new_id("ntf"),
                r.order.fan_id,
                "tracking_changed",
                f"Order {r.order.id} travels with {words}.",
                now,
                {**data, "before": before},
            )
        )
    return events, notes
