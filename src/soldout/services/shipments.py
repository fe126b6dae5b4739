"""A shipment as the maker hands it over and as the audit log keeps it: the lines of a
shipments CSV, and each order one shipping made with its carrier and tracking number."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from soldout.domain.claims import Order
from soldout.domain.errors import InvalidInput

__all__ = ["parse_shipment_csv", "shipped_detail", "tracking_detail"]


def shipped_detail(orders: Sequence[Order]) -> dict[str, object]:
    """What the audit log keeps of a shipment: the orders, and each one's carrier and
    tracking number (None when it has none)."""
    return {
        "orders": [o.id for o in orders],
        "shipments": [
            {"order": o.id, "carrier": o.carrier, "tracking_number": o.tracking_number}
            for o in orders
        ],
    }


def tracking_detail(order: Order, carrier: str | None, tracking: str | None) -> dict[str, object]:
    """What the audit log keeps of a tracking change: the new carrier and number, and
    those they replace."""
    return {
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "before": {"carrier": carrier, "tracking_number": tracking},
    }


def parse_shipment_csv(text: str) -> list[tuple[str, str, str | None]]:
    """The (order id, carrier, tracking number or None) of each line of a shipments CSV,
    for `FulfilmentDesk.ship_listed`; `InvalidInput` unless the header names the columns.

    `parse_shipment_csv("order_id,carrier\\nord_1,DHL\\n")` -> `[("ord_1", "DHL", None)]`
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))  # (csv reads line ends itself)
    try:
        if reader.fieldnames is None or not {"order_id", "carrier"} <= set(reader.fieldnames):
            raise InvalidInput(
                "the first line must name the columns order_id,carrier[,tracking_number]",
                field="line 1",
            )
        return [
            (
                (r["order_id"] or "").strip(),
                (r["carrier"] or "").strip(),
                (r.get("tracking_number") or "").strip() or None,
            )
            for r in reader
        ]
    except csv.Error as exc:  # a quote out of place, a field over csv's size limit
        raise InvalidInput(
            f"this line is not CSV: {exc}", field=f"line {reader.line_num}"
        ) from None
