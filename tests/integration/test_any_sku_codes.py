"""A priority code issued for "Any SKU", over HTTP in-process (httpx over ASGI, a fake clock,
the in-memory store): the fan chooses its SKU, so everything that shows the code says "any
SKU". Its unit is set aside from the SKU with the most units open, and the API's listing,
the codes CSV and the admin's latest codes showed that SKU as the one the code was for."""

from __future__ import annotations

import csv
import io
import re

from tests.integration.test_draw_leftovers import admin_page, issue_code
from tests.integration.test_fan_journeys import ADMIN, Shop, shop

__all__ = ["shop"]  # (the fixture, used by name)


async def test_an_any_sku_code_says_any_sku_until_the_fan_chooses(shop: Shop) -> None:
    lid = (await shop.launch(batch={"A": 3, "B": 2}))["id"]

    # Issued from the admin launch page's form, "Any SKU" chosen.
    async with shop.browser() as browser:
        assert (await browser.post("/admin/signin", data={"token": ADMIN})).status_code == 303
        page = await browser.get(f"/admin/launches/{lid}")
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert found, page.text[:500]
        form = {"csrf": found.group(1), "count": "1", "sku": ""}
        issued = await browser.post(f"/admin/launches/{lid}/codes", data=form)
        assert issued.status_code == 303, issued.text
    (code,) = (await shop.api.get(f"/api/v1/launches/{lid}/priority-codes")).json()["codes"]
    # For any SKU; its unit sits with A (the most open), which is no promise to the fan.
    assert (code["sku"], code["any_sku"]) == (None, True)
    assert code["unit_sku"] == "A"
    assert "any SKU" in await latest_codes(shop, lid)
    assert exported(await codes_csv(shop, lid), code["code"]) == ("any SKU", "1", "live", "")
    by_api = await issue_code(shop, lid)  # and by the API: the same
    assert (by_api["sku"], by_api["any_sku"], by_api["unit_sku"]) == (None, True, "A")

    # The fan chooses B: the code bought B, and is still shown as issued, for any SKU.
    fan = await shop.fan("Coded")
    bought = await shop.claim(fan, lid, "B", priority_code=code["code"])
    assert bought.status_code == 201, bought.text
    listed = (await shop.api.get(f"/api/v1/launches/{lid}/priority-codes")).json()["codes"]
    (spent,) = [c for c in listed if c["code"] == code["code"]]
    assert (spent["sku"], spent["unit_sku"], spent["redeemed"]) == (None, "B", True)
    assert f"{code['code']} any SKU (redeemed for B)" in await latest_codes(shop, lid)
    assert exported(await codes_csv(shop, lid), code["code"]) == ("any SKU", "1", "redeemed", "B")


async def test_a_code_for_one_sku_is_shown_as_for_that_sku(shop: Shop) -> None:
    lid = (await shop.launch(batch={"A": 3, "B": 2}))["id"]
    code = await issue_code(shop, lid, sku="B")
    assert (code["sku"], code["any_sku"], code["unit_sku"]) == ("B", False, "B")
    assert f"{code['code']} B" in await latest_codes(shop, lid)
    assert exported(await codes_csv(shop, lid), code["code"]) == ("B", "0", "live", "")


async def latest_codes(shop: Shop, launch_id: str) -> str:
    words = await admin_page(shop, f"/admin/launches/{launch_id}")
    return words.partition("Latest codes")[2]


async def codes_csv(shop: Shop, launch_id: str) -> str:
    exported = await shop.api.get(f"/api/v1/launches/{launch_id}/priority-codes.csv")
    assert exported.status_code == 200, exported.text
    return exported.text


def exported(text: str, code: str) -> tuple[str, str, str, str]:
    """A code's `sku`, `any_sku`, `state` and `redeemed_sku` in the codes CSV."""
    rows = list(csv.DictReader(io.StringIO(text)))
    (row,) = [r for r in rows if r["code"] == code]
    return row["sku"], row["any_sku"], row["state"], row["redeemed_sku"]
