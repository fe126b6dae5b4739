"""The orders CSV's columns and one order's row in it: what a warehouse and a spreadsheet
read, with text people typed made inert for spreadsheets.

Money comes twice: `total` in minor units with `currency` (as it always did, for the
programs that read it), and `total_decimal` in the currency's own unit with its own number
of decimals (`14900`, `EUR` is `149.00`; JPY has none, KWD three); `refunded_decimal`, the
last column, is what went back likewise (part refunds of an order that stands, or all of
it once refunded)."""

from __future__ import annotations

import re

from soldout.domain.addresses import ShippingAddress
from soldout.domain.money import Money
from soldout.store.ports import ExportRow

__all__ = ["EXPORT_COLUMNS", "csv_row"]

EXPORT_COLUMNS = (
    "order_id",
    "paid_at",
    "launch_id",
    "sku",
    "quantity",
    "total",  # minor units (cents): 14900 for EUR 149.00
    "currency",
    "status",
    "ship_date",
    "fan_id",
    "email",
    "name",
    "shipped_at",
    "carrier",
    "tracking_number",
    "refunded_at",
    "refund_reason",  # as the maker gave it (or soldout's own words: "cancelled by the fan")
    # where it ships (empty for orders paid before addresses were asked, or erased)
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_postal_code",
    "shipping_city",
    "shipping_region",
    "shipping_country",
    "shipping_phone",
    # added after the columns above, which keep their place for the programs that read them
    "total_decimal",  # the total in the currency's unit: "149.00"
    "product_name",
    "sku_name",
    # what went back to the fan, in the currency's unit: part refunds, or all once refunded
    "refunded_decimal",
)


def _cell(text: str | None) -> str:
    """Text a fan or a carrier typed, made inert for spreadsheets (no formula injection)."""
    if not text:
        return ""
    return "'" + text if text[0] in "=+-@\t\r" else text


_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def _phone_cell(phone: str) -> str:
    """A checked E.164 number (`+31201234567`) is digits after its plus, inert in any
    spreadsheet and what a carrier's system reads; anything else is treated as text."""
    return phone if _E164.match(phone) else _cell(phone)


def _shipping_cells(address: ShippingAddress | None) -> tuple[str, ...]:
    if address is None:
        return ("",) * 8
    a = address
    texts = (a.name, a.line1, a.line2, a.postal_code, a.city, a.region, a.country)
    return (*(_cell(t) for t in texts), _phone_cell(a.phone))


def csv_row(
    row: ExportRow, refund_reason: str | None, names: tuple[str, str]
) -> tuple[object, ...]:
    """One order's cells, in `EXPORT_COLUMNS`' order; `names`: its product's and SKU's."""
    o = row.order
    product_name, sku_name = names
    return (
        o.id,
        o.paid_at.isoformat(),
        o.launch_id,
        o.sku,
        o.quantity,
        o.total,
        o.currency,
        o.status.value,
        o.ship_date.isoformat() if o.ship_date else "",
        o.fan_id,
        _cell(row.email),
        _cell(row.name),
        o.shipped_at.isoformat() if o.shipped_at else "",
        _cell(o.carrier),
        _cell(o.tracking_number),
        o.refunded_at.isoformat() if o.refunded_at else "",
        _cell(refund_reason),
        *_shipping_cells(o.shipping),
        Money(o.total, o.currency).decimal_text(),
        _cell(product_name),
        _cell(sku_name),
        Money(o.refunded_amount, o.currency).decimal_text(),
    )
