"""A shipped order's carrier and tracking number set or corrected after it shipped: on its
admin page, through the API and by a shipments list; the fan is told once per change, and
the order's history and the audit log keep it."""

from __future__ import annotations

from typing import Any

import pytest

from soldout.domain.claims import Order
from soldout.domain.errors import Conflict
from soldout.engine.shipping import Retrack, Shipment
from tests.integration.test_admin_orders import ADMIN, Shop, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)


async def ship_without_tracking(shop: Shop, order: Order) -> None:
    token = await shop.csrf("/admin/orders")
    product_id = shop.platform.engine.book(shop.launch_id).product.id
    fields = {"csrf": token, "line": f"{product_id}/A", "count": "1", "carrier": "DHL"}
    shipped = await shop.admin.post("/admin/orders/ship-next", data=fields)
    assert shipped.status_code == 303, shipped.text
    assert order.status.value == "shipped"
    assert order.tracking_number is None


async def told(shop: Shop, order: Order) -> list[dict[str, Any]]:
    """The data of each tracking notice the order's fan got, oldest first."""
    notes = await shop.platform.store.notifications.for_fan(order.fan_id, 100)
    ordered = sorted(notes, key=lambda n: n.created_at)
    return [n.data for n in ordered if n.kind == "tracking_changed"]


async def logged(shop: Shop) -> list[tuple[str, dict[str, Any]]]:
    entries = await shop.platform.store.audit.recent(100)
    return [(e.subject, dict(e.detail)) for e in reversed(entries) if e.action == "order.tracking"]


async def tracking_form(shop: Shop, order: Order, carrier: str, number: str) -> str:
    token = await shop.csrf(f"/admin/orders/{order.id}")
    fields = {"csrf": token, "carrier": carrier, "tracking_number": number}
    sent = await shop.admin.post(f"/admin/orders/{order.id}/tracking", data=fields)
    assert sent.status_code == 303, sent.text
    return text_of(await shop.admin.get(sent.headers["location"]))


async def test_a_shipped_orders_page_adds_and_corrects_its_tracking(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    await ship_without_tracking(shop, order)
    page = text_of(await shop.admin.get(f"/admin/orders/{order.id}"))
    assert "Add tracking" in page

    added = await tracking_form(shop, order, "DHL", "JD0001")
    assert "Tracking saved: DHL · JD0001 . The fan was told by e-mail." in added
    assert "tracking changed : DHL, tracking JD0001" in added  # the order's history
    assert (order.carrier, order.tracking_number) == ("DHL", "JD0001")
    first = {"order_id": order.id, "carrier": "DHL", "tracking": "JD0001", "before": None}
    assert await told(shop, order) == [first]
    assert await logged(shop) == [
        (
            order.id,
            {
                "carrier": "DHL",
                "tracking_number": "JD0001",
                "before": {"carrier": "DHL", "tracking_number": None},
            },
        )
    ]

    # the same again (a second click): nothing is written, nobody is told twice
    again = await tracking_form(shop, order, "DHL", "JD0001")
    assert "nothing changed and the fan was not told again" in again
    assert len(await told(shop, order)) == 1
    assert len(await logged(shop)) == 1

    shop.clock.advance(60)
    corrected = await tracking_form(shop, order, "PostNL", "3SABC")
    assert "Correct tracking" in corrected
    assert (order.carrier, order.tracking_number) == ("PostNL", "3SABC")
    second = {"order_id": order.id, "carrier": "PostNL", "tracking": "3SABC", "before": "JD0001"}
    assert await told(shop, order) == [first, second]
    assert len(await logged(shop)) == 2
    events = await shop.platform.store.orders.events(order.id)
    assert [e.kind for e in events][-2:] == ["tracking_changed", "tracking_changed"]


async def test_the_tracking_form_refuses_a_blank_number_in_place(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    await ship_without_tracking(shop, order)
    token = await shop.csrf(f"/admin/orders/{order.id}")
    fields = {"csrf": token, "carrier": "DHL", "tracking_number": " "}
    refused = await shop.admin.post(f"/admin/orders/{order.id}/tracking", data=fields)
    assert refused.status_code == 400
    assert "Not saved: give the tracking number." in text_of(refused)
    assert order.tracking_number is None
    assert await told(shop, order) == []


async def test_a_shipments_list_sets_the_tracking_of_an_order_already_shipped(shop: Shop) -> None:
    shipped = await shop.buy(await shop.fan("Ann"))
    await ship_without_tracking(shop, shipped)
    waiting = await shop.buy(await shop.fan("Bob"))

    async def ship_csv(text: str) -> Any:
        token = await shop.csrf("/admin/orders")
        return await shop.admin.post("/admin/orders/ship-csv", data={"csrf": token, "csv": text})

    # a shipped order listed without a tracking number is still refused, and the whole list
    header = "order_id,carrier,tracking_number\n"
    bad = await ship_csv(f"{header}{waiting.id},UPS,1Z1\n{shipped.id},DHL,\n")
    assert bad.status_code == 400
    assert f"order {shipped.id} is shipped, not waiting to ship" in text_of(bad)
    assert waiting.status.value == "paid"

    done = await ship_csv(f"{header}{waiting.id},UPS,1Z1\n{shipped.id},DHL,JD0002\n")
    assert done.status_code == 303, done.text
    assert (waiting.status.value, waiting.tracking_number) == ("shipped", "1Z1")
    assert (shipped.carrier, shipped.tracking_number) == ("DHL", "JD0002")
    assert await told(shop, shipped) == [
        {"order_id": shipped.id, "carrier": "DHL", "tracking": "JD0002", "before": None}
    ]
    # listed again unchanged: nothing is told twice
    assert (await ship_csv(f"{header}{shipped.id},DHL,JD0002\n")).status_code == 303
    assert len(await told(shop, shipped)) == 1


async def test_the_api_sets_a_shipped_orders_tracking_and_refuses_an_unshipped_one(
    shop: Shop,
) -> None:
    auth = {"authorization": f"Bearer {ADMIN}"}
    shipped = await shop.buy(await shop.fan("Ann"))
    await ship_without_tracking(shop, shipped)
    waiting = await shop.buy(await shop.fan("Bob"))
    body = {"carrier": "DHL", "tracking_number": "JD0003"}

    answer = await shop.http.put(f"/api/v1/orders/{shipped.id}/tracking", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["carrier"], answer.json()["tracking_number"]) == ("DHL", "JD0003")
    assert answer.json()["history"][-1]["kind"] == "tracking_changed"
    assert len(await told(shop, shipped)) == 1

    refused = await shop.http.put(f"/api/v1/orders/{waiting.id}/tracking", json=body, headers=auth)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "not_shipped"
    nobody = await shop.http.put(f"/api/v1/orders/{shipped.id}/tracking", json=body)
    assert nobody.status_code == 401
    fan = await shop.fan("Cy")
    a_fan = await shop.http.put(
        f"/api/v1/orders/{shipped.id}/tracking",
        json={"carrier": "Evil", "tracking_number": "X"},
        headers={"authorization": f"Bearer {fan['token']}"},
    )
    assert a_fan.status_code == 403, a_fan.text
    assert shipped.tracking_number == "JD0003"


async def test_an_order_that_changed_while_a_list_was_read_refuses_the_list(shop: Shop) -> None:
    """A list's lines are checked one by one, awaiting between them: an order refunded (or
    shipped) meanwhile refuses the whole list before anything changes, as a bad line does."""
    waiting, refunded = await shop.buy(await shop.fan("Ann")), await shop.buy(await shop.fan("Ben"))
    checked = Shipment(refunded, "DHL", None)  # (as the list's check saw it: waiting)
    await shop.platform.fulfilment.refund(refunded.id, "asked to cancel")
    with pytest.raises(Conflict, match=f"order {refunded.id} changed meanwhile"):
        await shop.platform.engine.orders.ship([Shipment(waiting, "DHL", None), checked])
    assert (waiting.status.value, refunded.status.value) == ("paid", "refunded")
    with pytest.raises(Conflict, match="changed meanwhile"):
        await shop.platform.engine.orders.ship([], [Retrack(waiting, "DHL", "JD1")])
    assert waiting.tracking_number is None
