""" "Sold" is one figure wherever the maker reads it: units paid for and not refunded. A
unit refunded after it shipped stays out of stock (`paid` in the stats, which count the
stock, and the public row's `sold`, which adds up to the batch, and not back on sale) but
is no sale: the live dashboard and the margin's units agree (the dashboard counted it)."""

from __future__ import annotations

import re

import httpx

from tests.integration.test_admin_pages import browser
from tests.integration.test_fulfilment_api import buy_many, launch_sku, open_sale, refund

__all__ = ["browser"]  # (the fixture, used by name)


def test_a_unit_refunded_after_it_shipped_is_sold_nowhere(
    admin: httpx.Client, anyone: httpx.Client, browser: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 3})
    first, _ = buy_many(anyone, sale, 2)
    shipped = admin.post(sale.shipments_url(), json={"count": 1, "carrier": "DHL"})
    assert [o["id"] for o in shipped.json()["shipped"]] == [first.id]
    refund(admin, first)

    public = launch_sku(anyone, sale)  # the public row adds up to the batch
    assert (public["available"], public["set_aside"], public["held"], public["sold"]) == (
        1,
        0,
        0,
        2,
    )
    stats = admin.get(f"/api/v1/launches/{sale.launch_id}/stats").json()["skus"]["A"]
    assert (stats["paid"], stats["available"]) == (2, 1)  # gone from stock, not on sale
    margin = admin.get(f"/api/v1/launches/{sale.launch_id}/margin").json()["skus"]["A"]
    assert (margin["units"], margin["refunded_units"]) == (1, 1)
    page = browser.get(f"/admin/launches/{sale.launch_id}/dashboard")
    assert page.status_code == 200, page.text
    assert re.search(r'<dd id="sold">\s*1\s*</dd>', page.text), page.text
