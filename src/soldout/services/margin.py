"""A launch's margin: revenue, cost and margin per SKU and per currency.

figures = await launch_margin(engine, launch_id)
"""

from __future__ import annotations

from soldout.domain.claims import OrderStatus
from soldout.engine import SaleEngine

__all__ = ["launch_margin"]


async def launch_margin(engine: SaleEngine, launch_id: str) -> dict[str, object]:
    """Revenue, cost and margin per SKU and per currency, in minor units. Revenue is what
    the fans paid less what part refunds gave back (`refunded_part`: those amounts, of
    orders that stand). An unshipped refund counts for nothing; a shipped refund costs its
    unit and earns nothing. Each order's units cost what the SKU cost when it was paid (an
    order older than that record: the SKU's cost now). A SKU with a unit sold whose cost is
    not known (left blank; a cost of 0 is known: a free add-on) has no known margin:
    `cost_known` is false and its `margin` and `margin_percent` are null, and so are its
    currency's totals (a margin of 100 % would be a guess presented as a figure)."""
    book = engine.book(launch_id)
    per_sku: dict[str, dict[str, int]] = {
        code: {"units": 0, "revenue": 0, "cost": 0, "refunded_units": 0, "refunded_part": 0}
        for code in book.stock
    }
    unknown_cost: set[str] = set()  # SKUs with a unit sold whose cost is not known
    for order in await engine.orders_of_launch(launch_id):
        sku = book.product.sku(order.sku)
        assert sku is not None
        line = per_sku[order.sku]
        # what a unit cost when it was paid; the product's cost for an older order
        unit_cost = order.unit_cost if order.unit_cost is not None else sku.cost_amount
        refunded = order.status is OrderStatus.REFUNDED
        if refunded:
            line["refunded_units"] += order.quantity
            if order.shipped_at is None:
                continue  # (its unit went back: it cost nothing)
        if unit_cost is None:
            unknown_cost.add(order.sku)
        else:
            line["cost"] += unit_cost * order.quantity
        if refunded:
            continue
        line["units"] += order.quantity
        line["revenue"] += order.total - order.parts_refunded
        line["refunded_part"] += order.parts_refunded
    skus: dict[str, dict[str, object]] = {}
    totals: dict[str, dict[str, int]] = {}
    unknown: set[str] = set()  # currencies where a SKU without a cost has sold
    for code, line in per_sku.items():
        sku = book.product.sku(code)
        assert sku is not None
        currency = sku.price.currency
        sold = line["units"] or line["refunded_units"]
        known = code not in unknown_cost if sold else sku.cost is not None
        skus[code] = {
            **line,
            "currency": currency,
            "unit_price": sku.price.amount,
            "unit_cost": sku.cost_amount,  # the product's, now
            **_margin(line["revenue"], line["cost"], known),
        }
        total = totals.setdefault(currency, {"units": 0, "revenue": 0, "cost": 0})
        for key in ("units", "revenue", "cost"):
            total[key] += line[key]
        if not known and (line["units"] or line["refunded_units"]):
            unknown.add(currency)
    return {
        "launch_id": launch_id,
        "skus": skus,
        "totals": {
            c: {**t, **_margin(t["revenue"], t["cost"], c not in unknown)}
            for c, t in totals.items()
        },
    }


def _margin(revenue: int, cost: int, known: bool) -> dict[str, object]:
    if not known:
        return {"cost_known": False, "margin": None, "margin_percent": None}
    margin = revenue - cost
    percent = round(margin * 100 / revenue, 2) if revenue else None
    return {"cost_known": True, "margin": margin, "margin_percent": percent}
