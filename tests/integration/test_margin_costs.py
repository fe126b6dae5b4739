"""A SKU whose cost the maker left blank has no margin: it showed a margin of 100 %, in
the API, the admin and `soldout report` (found by an outside test). A cost of 0 is a cost
(a free add-on), not a blank one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.integration.test_admin_pages import browser, csrf_of
from tests.integration.test_fulfilment_api import buy, open_sale
from tests.integration.test_report import run
from tests.support import ADMIN_TOKEN, ServerProcess

__all__ = ["browser"]  # (the fixture, used by name)


def test_a_sku_without_a_cost_has_no_margin_and_says_so(
    admin: httpx.Client,
    anyone: httpx.Client,
    browser: httpx.Client,
    shared_server: ServerProcess,
    tmp_path: Path,
) -> None:
    sale = open_sale(admin, {"A": 5, "B": 5}, prices={"A": (2500, 1700), "B": (4000, None)})
    buy(anyone, sale)
    margin = admin.get(f"/api/v1/launches/{sale.launch_id}/margin").json()
    a, b = margin["skus"]["A"], margin["skus"]["B"]
    assert (a["cost_known"], a["margin"], a["margin_percent"]) == (True, 800, 32.0)
    assert (b["cost_known"], b["unit_cost"], b["margin"], b["margin_percent"]) == (
        False,
        None,
        None,
        None,
    )
    assert margin["totals"]["EUR"]["margin"] == 800  # B sold nothing yet: the total stands

    buy(anyone, sale, sku="B")
    total = admin.get(f"/api/v1/launches/{sale.launch_id}/margin").json()["totals"]["EUR"]
    assert (total["revenue"], total["cost_known"], total["margin"]) == (6500, False, None)
    assert total["margin_percent"] is None
    page = browser.get(f"/admin/launches/{sale.launch_id}").text
    assert "cost not given" in page
    assert "not known: a SKU sold has no cost" in page
    out = tmp_path / "report"
    made = run(
        sale.launch_id,
        "--url",
        shared_server.base_url,
        "--admin-token",
        ADMIN_TOKEN,
        "--out",
        str(out),
    )
    assert made.exit_code == 0, made.output
    report = (out / "index.html").read_text(encoding="utf-8")
    assert "not known: a SKU sold has no cost" in report
    assert "cost not given" in report
    assert "(the SKUs with a cost)" in report  # a partial cost is said to be one


def test_a_new_cost_leaves_the_margin_of_what_sold_before_alone(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    """Components cost more for the next units: the units sold keep the cost they had
    when they were paid, and only those sold since cost the new one."""
    sale = open_sale(admin, {"A": 5}, prices={"A": (2500, 1700)})
    buy(anyone, sale)
    new_cost = [{"code": "A", "name": "SKU A", "price": 2500, "cost": 2100, "currency": "EUR"}]
    changed = admin.patch(f"/api/v1/products/{sale.product_id}", json={"skus": new_cost})
    assert changed.status_code == 200, changed.text
    margin = admin.get(f"/api/v1/launches/{sale.launch_id}/margin").json()["skus"]["A"]
    assert (margin["cost"], margin["margin"]) == (1700, 800)  # as when it was paid
    buy(anyone, sale)
    margin = admin.get(f"/api/v1/launches/{sale.launch_id}/margin").json()["skus"]["A"]
    assert (margin["units"], margin["cost"], margin["margin"]) == (2, 1700 + 2100, 1200)
    assert margin["unit_cost"] == 2100  # the product's cost now, for what sells next


def test_a_free_add_on_costs_nothing_and_its_margin_is_known(
    admin: httpx.Client, anyone: httpx.Client, browser: httpx.Client
) -> None:
    """A maker giving a sticker away with each deck says its cost is 0: it was read as
    "not given", and the whole launch's margin became unknown."""
    sale = open_sale(admin, {"A": 5, "FREE": 5}, prices={"A": (2500, 1700), "FREE": (100, 0)})
    product = admin.get(f"/api/v1/products/{sale.product_id}").json()
    assert [s["cost"] for s in product["skus"]] == [1700, 0]
    buy(anyone, sale)
    buy(anyone, sale, sku="FREE")
    margin = admin.get(f"/api/v1/launches/{sale.launch_id}/margin").json()
    free = margin["skus"]["FREE"]
    assert (free["cost_known"], free["unit_cost"], free["cost"], free["margin"]) == (
        True,
        0,
        0,
        100,
    )
    total = margin["totals"]["EUR"]
    assert (total["cost_known"], total["revenue"], total["margin"]) == (True, 2600, 900)

    form = browser.get(f"/admin/products/{sale.product_id}")
    assert 'name="sku1_cost" class="money"' in form.text
    assert 'value="0.00"' in form.text  # shown back as the 0 it is, not as blank
    made = browser.post(
        "/admin/products",
        data={
            "csrf": csrf_of(form),
            "name": "Sticker pack",
            "sku0_code": "S-FREE",
            "sku0_price": "1.00",
            "sku0_cost": "0",
            "sku0_currency": "EUR",
            "sku1_code": "S-BLANK",
            "sku1_price": "1.00",
            "sku1_cost": "",
            "sku1_currency": "EUR",
        },
    )
    assert made.status_code == 303, made.text
    product_id = parse_qs(urlsplit(made.headers["location"]).query)["product_id"][0]
    typed = admin.get(f"/api/v1/products/{product_id}").json()["skus"]
    assert [(s["code"], s["cost"]) for s in typed] == [("S-FREE", 0), ("S-BLANK", None)]
