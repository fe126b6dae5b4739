"""A cancelled launch tells each fan what it means for them: an order still to ship
stands (and may be cancelled for a refund); a unit only held cost nothing; a fan whose
order was refunded already, or has shipped, has nothing new to hear. A refunded and a
shipped buyer were both told their order "stands: it ships as planned, unless you cancel
it". A fan who had only reserved (or entered the draw) read of "any unit you held"."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.test_fan_journeys import (
    AMSTERDAM,
    Fan,
    Shop,
    enter_draw,
    letter_text,
    shop,
    text_of,
)

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
    assert await told(shop, holding) == [{"launch_id": lid, "bought": False, "held": True}]
    assert await told(shop, shipped) == []
    assert "nothing was charged for a unit you held" in text_of(await holding.browser.get("/me"))
    (note,) = [
        n
        for n in await shop.platform.store.notifications.for_fan(holding.id, 20)
        if n.kind == "launch_cancelled"
    ]
    assert "Any unit you held was released" in await letter_text(shop, note)


async def test_a_fan_who_only_reserved_is_told_the_reservation_went_with_the_launch(
    shop: Shop,
) -> None:
    opens = (shop.clock.now() + timedelta(hours=1)).isoformat()
    sale = await shop.launch(sale_opens_at=opens)
    draw = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens)
    fan = await shop.fan("R")
    reserved = await fan.browser.post(
        f"/api/v1/launches/{sale['id']}/reservations", headers={"x-soldout-web": "1"}
    )
    assert reserved.status_code in (200, 201), reserved.text
    await enter_draw([fan], draw["id"])
    for launch in (sale, draw):
        cancelled = await shop.api.patch(f"/api/v1/launches/{launch['id']}", json={"cancel": True})
        assert cancelled.status_code == 200, cancelled.text

    me = text_of(await fan.browser.get("/me"))
    assert "was cancelled, and your reservation with it. Nothing was charged." in me
    assert "was cancelled, and your entry in its draw with it. Nothing was charged." in me
    assert "a unit you held" not in me
    notes = await shop.platform.store.notifications.for_fan(fan.id, 20)
    letters = [await letter_text(shop, n) for n in notes if n.kind == "launch_cancelled"]
    assert len(letters) == 2
    assert any("Your reservation was cancelled with it. Nothing was charged." in t for t in letters)
    assert any("Your entry in its draw was cancelled with it." in t for t in letters)
    assert not any("unit you held" in t for t in letters)
    assert not any("unit you held" in n.message for n in notes)


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
