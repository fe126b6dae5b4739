"""A cancelled launch tells each fan what it means for them: an order still to ship
stands (and may be cancelled for a refund); a unit only held cost nothing; a fan whose
order was refunded already, or has shipped, has nothing new to hear. A refunded and a
shipped buyer were both told their order "stands: it ships as planned, unless you cancel
it"."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.test_fan_journeys import AMSTERDAM, Fan, Shop, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)


async def told(shop: Shop, fan: Fan) -> list[dict[str, object]]:
    notes = await shop.platform.store.notifications.for_fan(fan.id, 20)
    return [dict(n.data) for n in notes if n.kind == "launch_cancelled"]


async def test_each_fan_is_told_what_a_cancelled_launch_means_for_them(shop: Shop) -> None:
    launch = await shop.launch()
    lid = launch["id"]
    waiting, refunded, shipped, holding = [await shop.fan(n) for n in ("W", "R", "S", "H")]
    orders = {}
    for fan in (waiting, refunded, shipped):
        held = await shop.claim(fan, lid)
        paid = await shop.pay(fan, held.json()["id"], shipping=AMSTERDAM)
        assert paid.status_code == 200, paid.text
        orders[fan.id] = paid.json()["id"]
    assert (await shop.claim(holding, lid)).status_code == 201
    back = await shop.api.post(f"/api/v1/orders/{orders[refunded.id]}/refund", json={"reason": "x"})
    assert back.status_code == 200, back.text
    lines = f"order_id,carrier\n{orders[shipped.id]},DHL\n"
    sent = await shop.api.post(
        "/api/v1/shipments", content=lines, headers={"content-type": "text/csv"}
    )
    assert sent.status_code == 200, sent.text

    cancelled = await shop.api.patch(f"/api/v1/launches/{lid}", json={"cancel": True})
    assert cancelled.status_code == 200, cancelled.text

    assert await told(shop, waiting) == [{"launch_id": lid, "bought": True}]
    assert await told(shop, refunded) == []
    assert await told(shop, holding) == [{"launch_id": lid, "bought": False}]
    assert await told(shop, shipped) == []


async def test_a_fan_who_reserved_sees_it_cancelled_on_their_page(shop: Shop) -> None:
    opens = shop.clock.now() + timedelta(hours=1)
    launch = await shop.launch(sale_opens_at=opens.isoformat())
    fan = await shop.fan("R")
    reserved = await fan.browser.post(
        f"/api/v1/launches/{launch['id']}/reservations", headers={"x-soldout-web": "1"}
    )
    assert reserved.status_code in (200, 201), reserved.text
    cancelled = await shop.api.patch(f"/api/v1/launches/{launch['id']}", json={"cancel": True})
    assert cancelled.status_code == 200, cancelled.text
    entries = text_of(await fan.browser.get("/me")).split("Reservations and draw entries", 1)[1]
    assert "This launch was cancelled" in entries
    assert "This round has closed" not in entries
