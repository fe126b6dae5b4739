"""A fan who reserves in a first-come launch names the model they picked, as a draw's
entrant does: their account and the reservation e-mail say which, and the maker's
demand counts it for that SKU instead of "without naming a SKU"."""

from __future__ import annotations

from tests.integration.test_fan_journeys import Fan, Shop, letter_text, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)


async def reserve(fan: Fan, launch_id: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    """The launch page's "Reserve (free)", as its script sends it."""
    answer = await fan.browser.post(
        f"/api/v1/launches/{launch_id}/reservations", json=body, headers={"x-soldout-web": "1"}
    )
    return answer.status_code, answer.json()


def a_year_from_now(shop: Shop) -> str:
    now = shop.clock.now().replace(microsecond=0)
    return now.replace(year=now.year + 1).isoformat()


async def test_a_reservation_keeps_the_model_the_fan_picked(shop: Shop) -> None:
    launch = await shop.launch(sale_opens_at=a_year_from_now(shop))
    lid = launch["id"]
    assert launch["mode"] != "draw"
    fans = [await shop.fan(name) for name in ("Ann", "Bob", "Cem")]
    for fan, sku in zip(fans, ("A", "B", "B"), strict=True):
        status, reservation = await reserve(fan, lid, {"sku": sku})
        assert (status, reservation["sku"]) == (201, sku)

    ann = fans[0]
    assert "Model One: first round · Model One black" in text_of(await ann.browser.get("/me"))
    notes = await shop.platform.store.notifications.for_fan(ann.id, 10)
    (confirmed,) = [n for n in notes if n.kind == "reservation_confirmed"]
    letter = await letter_text(shop, confirmed)
    assert "Item: Model One black" in letter, letter

    demand = await shop.api.get(f"/api/v1/products/{shop.product_id}/demand")
    assert demand.status_code == 200, demand.text
    assert demand.json()["waiting"] == {"A": 1, "B": 2}
    assert demand.json()["suggested"] == {"A": 1, "B": 2}


async def test_a_reservation_for_a_model_the_launch_does_not_sell_is_refused(shop: Shop) -> None:
    launch = await shop.launch(batch={"A": 5}, sale_opens_at=a_year_from_now(shop))
    fan = await shop.fan()
    for sku in ("Z", "B"):
        status, answer = await reserve(fan, launch["id"], {"sku": sku})
        error = answer["error"]
        assert isinstance(error, dict)
        assert (status, error["code"], error["field"]) == (422, "invalid", "sku")
    status, _ = await reserve(fan, launch["id"], {"sku": "A"})
    assert status == 201
