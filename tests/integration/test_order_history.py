"""An order's history on the fan's order page and the admin's, over HTTP in-process (httpx
over ASGI, a fake clock, the in-memory store): each line says what happened then and what
it changed.

The "shipped" line showed the order's tracking number as it is now, so after a correction
the fan read "shipped with Y" and then "tracking Y"; and a ship date given after "no date"
read "Ship date set", as if it were the order's first."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from soldout.i18n import Speaker
from tests.integration.test_draw_leftovers import admin_page
from tests.integration.test_fan_journeys import AMSTERDAM, Fan, Shop, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)


async def paid_order(shop: Shop) -> tuple[Fan, dict[str, Any]]:
    launch = await shop.launch()
    fan = await shop.fan()
    held = await shop.claim(fan, launch["id"])
    paid = await shop.pay(fan, held.json()["id"], shipping=AMSTERDAM)
    assert paid.status_code in (200, 201), paid.text
    order: dict[str, Any] = paid.json()
    return fan, order


async def history_for_fan(fan: Fan, order_id: str) -> str:
    page = text_of(await fan.browser.get(f"/orders/{order_id}"))
    return page.partition(" History ")[2]


async def history_for_maker(shop: Shop, order_id: str) -> str:
    return (await admin_page(shop, f"/admin/orders/{order_id}")).partition(" History ")[2]


async def test_the_shipped_line_keeps_the_number_it_shipped_with(shop: Shop) -> None:
    fan, order = await paid_order(shop)
    body = {"count": 1, "carrier": "DHL", "tracking_numbers": ["JD0001"]}
    shipped = await shop.api.post(f"/api/v1/products/{shop.product_id}/skus/A/shipments", json=body)
    assert shipped.status_code == 200, shipped.text
    shop.clock.advance(3600)
    fix = {"carrier": "PostNL", "tracking_number": "3SABC"}
    fixed = await shop.api.put(f"/api/v1/orders/{order['id']}/tracking", json=fix)
    assert fixed.status_code == 200, fixed.text

    seen = await history_for_fan(fan, order["id"])
    assert "Shipped: DHL, tracking number JD0001" in seen
    assert "Tracking number changed: PostNL, tracking number 3SABC (before: JD0001)" in seen
    told = await history_for_maker(shop, order["id"])
    assert "shipped : by DHL, tracking JD0001" in told
    assert "tracking changed : PostNL, tracking 3SABC (before: JD0001 )" in told


async def test_each_ship_date_line_says_what_changed(shop: Shop) -> None:
    fan, order = await paid_order(shop)
    first = date.fromisoformat(order["ship_date"])

    async def plan(starts_in_days: int | None) -> None:
        starts = (shop.clock.now() + timedelta(days=starts_in_days or 3)).date().isoformat()
        rates = [{"starts_on": starts, "units_per_day": 2}] if starts_in_days else []
        put = await shop.api.put(
            f"/api/v1/products/{shop.product_id}/skus/A/plan",
            json={"starts_on": starts, "rates": rates},
        )
        assert put.status_code == 200, put.text
        await shop.platform.engine.ship_news.drained()  # the moved date written and told
        shop.clock.advance(60)

    await plan(None)  # production stops: no date until more is planned
    await plan(20)  # a date again
    await plan(10)  # an earlier one
    now = await shop.platform.engine.order(order["id"])
    assert now is not None
    assert now.ship_date is not None
    latest = now.ship_date
    given = (shop.clock.now() + timedelta(days=20)).date()  # (the day the plan gave)
    assert first < latest < given

    day = Speaker.of("en").day
    seen = await history_for_fan(fan, order["id"])
    assert f"Ship date set: {day(first)}" in seen
    assert f"Ship date removed: no date until more are made (before: {day(first)})" in seen
    assert f"Ship date given: {day(given)} (before: no date)" in seen  # not its first
    assert f"Ship date set: {day(given)}" not in seen
    assert f"Ship date changed: {day(latest)} (before: " in seen

    told = await history_for_maker(shop, order["id"])
    assert f"ship date set : {first}" in told
    assert f"ship date removed : no date until more are made (before: {first})" in told
    assert f"ship date given : {given} (before: no date)" in told
    assert f"ship date changed : {latest} (before: " in told
