"""The orders CSV as a spreadsheet reads it: the columns programs already read keep their
place, and after them the total in the currency's unit, the product's and SKU's names and
what was refunded."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from soldout.services.order_export import EXPORT_COLUMNS, csv_row
from soldout.store.ports import ExportRow
from tests.integration.test_admin_orders import Shop, api, shop
from tests.integration.test_fulfilment_api import EXPORT_HEADER

__all__ = ["shop"]  # (the fixture, used by name)

BEFORE = EXPORT_HEADER[: EXPORT_HEADER.index("total_decimal")]  # (the columns before)


async def test_the_export_gives_the_total_in_euros_and_names_what_was_bought(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"), "B")

    answer = await shop.http.get("/api/v1/orders.csv", headers=api(shop))

    assert answer.status_code == 200
    header, row = list(csv.reader(io.StringIO(answer.text)))
    assert header[: len(BEFORE)] == BEFORE
    cells = dict(zip(header, row, strict=True))
    assert (cells["order_id"], cells["total"], cells["currency"]) == (order.id, "2500", "EUR")
    assert cells["total_decimal"] == "25.00"
    assert (cells["product_name"], cells["sku_name"]) == ("Model One", "Colour B")


async def test_the_export_ends_with_what_part_refunds_gave_back(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    await shop.platform.fulfilment.refund_amount(order.id, "scratched", "5.50", "k1")

    answer = await shop.http.get("/api/v1/orders.csv", headers=api(shop))

    header, row = list(csv.reader(io.StringIO(answer.text)))
    cells = dict(zip(header, row, strict=True))
    assert header[-1] == "refunded_decimal"
    assert (cells["status"], cells["refunded_at"], cells["refunded_decimal"]) == (
        "paid",
        "",
        "5.50",
    )


@pytest.mark.parametrize(
    ("amount", "currency", "decimal"),
    [(14900, "EUR", "149.00"), (1500, "JPY", "1500"), (12345, "KWD", "12.345")],
)
async def test_the_decimal_total_has_the_currencys_own_decimals(
    shop: Shop, amount: int, currency: str, decimal: str
) -> None:
    order = replace(await shop.buy(await shop.fan("Ann")), total=amount, currency=currency)
    row = csv_row(ExportRow(order, "a@x.test", "Ann"), None, ("=SUM(A1)", "Black"))
    cells = dict(zip(EXPORT_COLUMNS, row, strict=True))
    assert (cells["total"], cells["total_decimal"]) == (amount, decimal)
    assert (cells["product_name"], cells["sku_name"]) == ("'=SUM(A1)", "Black")  # inert
