"""Where to ship and the fan's own data, over HTTP in-process (as test_fan_journeys.py):
the address is checked before any money moves, no order is taken that nobody could ship,
shared addresses make duplicate buyers; a fan takes their data away and erases the
account once nothing is left to ship."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.test_fan_journeys import (
    AMSTERDAM,
    ORIGIN,
    Shop,
    shop,
    text_of,
)

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

__all__ = ["shop"]  # (the fixture, used by name)


async def test_the_address_is_checked_before_any_money_moves(shop: Shop) -> None:
    launch = await shop.launch()
    fan = await shop.fan()
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    wrong = await shop.pay(fan, claim_id, shipping={**AMSTERDAM, "postal_code": "ABCDE"})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["field"] == "shipping.postal_code"
    assert shop.platform.engine.checkout.payments_of(claim_id) == []  # nothing asked
    assert (await shop.platform.fans.fan(fan.id)).shipping is None  # nothing kept
    no_phone = await shop.pay(fan, claim_id, shipping={**AMSTERDAM, "phone": "12"})
    assert no_phone.json()["error"]["field"] == "shipping.phone"
    unknown = await shop.pay(fan, claim_id, shipping={**AMSTERDAM, "country": "XX"})
    assert unknown.json()["error"]["field"] == "shipping.country"

    paid = await shop.pay(fan, claim_id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order = shop.platform.engine.orders.get(paid.json()["id"])
    assert order is not None
    assert order.shipping is not None
    assert (order.shipping.postal_code, order.shipping.country, order.shipping.phone) == (
        "1015 CD",
        "NL",
        "+31201234567",
    )
    # The fan moves: their next order ships to the new address, this one keeps its own.
    moved = await shop.anyone.put(
        "/api/v1/me/shipping",
        json={**AMSTERDAM, "line1": "Prinsengracht 2", "postal_code": "1016 GV"},
        headers=fan.auth,
    )
    assert moved.status_code == 200, moved.text
    assert order.shipping.line1 == "Keizersgracht 1"


def error_of(answer: httpx.Response) -> tuple[int, str, str | None]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error.get("field")


async def test_no_order_is_taken_that_nobody_could_ship(shop: Shop) -> None:
    launch = await shop.launch()
    fan = await shop.fan()
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    # What the request itself lacks is said first: the address, which the fan must go
    # and give, last (a fan who gave it then learnt of the next problem).
    keyless = await shop.anyone.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers=fan.auth,
    )
    assert error_of(keyless) == (422, "missing_idempotency_key", "Idempotency-Key")
    assert error_of(await shop.pay(fan, claim_id, method="bitcoin")) == (422, "invalid", "method")
    refused = await shop.pay(fan, claim_id)
    assert refused.status_code == 422
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "shipping_required",
        "shipping",
    )
    assert shop.platform.engine.checkout.payments_of(claim_id) == []  # the provider not asked
    saved = await shop.anyone.put("/api/v1/me/shipping", json=AMSTERDAM, headers=fan.auth)
    assert saved.status_code == 200
    paid = await shop.pay(fan, claim_id)  # the address on file will do
    assert paid.status_code == 200, paid.text
    assert paid.json()["id"] in {o.id for o in await shop.platform.fans.orders_of(fan.id)}


async def test_the_address_form_says_what_is_wrong_and_keeps_what_was_typed(shop: Shop) -> None:
    fan = await shop.fan()
    form = await fan.browser.get("/me/address")
    assert form.status_code == 200
    assert '<option value="NL"' in form.text
    refused = await fan.browser.post(
        "/me/address", data={**AMSTERDAM, "postal_code": "99", "next": "/me"}
    )
    assert refused.status_code == 422
    assert "This postal code does not look right for the country chosen." in text_of(refused)
    assert 'value="Keizersgracht 1"' in refused.text
    assert re.search(r'name="postal_code"[^>]*aria-invalid="true"', refused.text)
    saved = await fan.browser.post("/me/address", data={**AMSTERDAM, "next": "/me"})
    assert saved.status_code == 303
    assert "Keizersgracht 1" in text_of(await fan.browser.get("/me"))


async def test_fans_sharing_an_address_given_in_the_shop_are_duplicate_buyers(
    shop: Shop,
) -> None:
    launch = await shop.launch(duplicate_rule="cancel", duplicate_limit=1)
    ann, bob = await shop.fan("Ann"), await shop.fan("Bob")
    for fan in (ann, bob):
        saved = await shop.anyone.put("/api/v1/me/shipping", json=AMSTERDAM, headers=fan.auth)
        assert saved.status_code == 200
    refused = await shop.claim(bob, launch["id"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "duplicate_buyer"


async def test_a_fan_downloads_their_data(shop: Shop) -> None:
    launch = await shop.launch()
    fan = await shop.fan()
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    order_id = (await shop.pay(fan, claim_id, shipping=AMSTERDAM)).json()["id"]
    ideas = f"/api/v1/products/{launch['product_id']}/ideas"
    idea = (await shop.anyone.post(ideas, json={"title": "Dark mode"}, headers=fan.auth)).json()
    download = await fan.browser.get("/me/data")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    # (a server sends what the header says: it said 0, and the file came empty)
    assert int(download.headers["content-length"]) == len(download.content)
    data = download.json()
    assert data["fan"]["email"] == fan.email
    assert data["fan"]["shipping"]["city"] == "Amsterdam"
    assert [c["id"] for c in data["claims"]] == [claim_id]
    assert [o["id"] for o in data["orders"]] == [order_id]
    assert data["orders"][0]["shipping"]["line1"] == "Keizersgracht 1"
    assert [p["state"] for p in data["payments"]] == ["captured"]
    assert {n["kind"] for n in data["notifications"]} >= {"order_confirmed"}
    assert [i["title"] for i in data["board"]["ideas"]] == ["Dark mode"]
    assert data["board"]["votes"] == [idea["id"]]  # (an idea comes with its author's vote)
    # Each export passes over the sale's record: one every ten seconds per fan.
    again = await shop.anyone.get("/api/v1/me/data", headers=fan.auth)
    assert again.status_code == 429
    assert "Try again in a few seconds" in text_of(await fan.browser.get("/me/data"))
    shop.clock.advance(10)
    assert data == (await shop.anyone.get("/api/v1/me/data", headers=fan.auth)).json()


async def test_erasing_waits_for_open_orders_then_forgets_the_fan(shop: Shop) -> None:
    launch = await shop.launch(per_fan_limit=2)
    fan = await shop.fan()
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    order_id = (await shop.pay(fan, claim_id, shipping=AMSTERDAM)).json()["id"]
    held = await shop.claim(fan, launch["id"], "B")
    assert held.status_code == 201

    refused = await shop.anyone.delete("/api/v1/me", headers=fan.auth)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "orders_in_progress"
    page = await fan.browser.post("/me/delete", data={"confirm": "erase"})
    assert page.status_code == 409
    assert f'href="/orders/{order_id}"' in page.text  # each order, named as the fan knows it
    assert f"{launch['title']}: Model One black paid" in text_of(page)
    assert order_id not in text_of(page)

    assert (
        await shop.anyone.post(f"/api/v1/orders/{order_id}/cancel", headers=fan.auth)
    ).is_success
    unconfirmed = await fan.browser.post("/me/delete", data={})
    assert unconfirmed.status_code == 422
    erased = await fan.browser.post("/me/delete", data={"confirm": "erase"})
    assert erased.status_code == 200
    assert "Account erased" in text_of(erased)

    record = await shop.platform.store.fans.get(fan.id)
    assert record is not None
    assert record.is_erased
    assert fan.email not in (record.email, record.name)
    assert record.shipping is None
    assert record.phone is None
    assert record.address is None
    assert await shop.platform.store.fans.by_email(fan.email) is None
    order = await shop.platform.store.orders.for_fan(fan.id)
    assert [(o.id, o.total, o.shipping) for o in order] == [(order_id, 19900, None)]
    # nor does what the maker reads from memory (the export, the order's page) keep it
    export = await shop.api.get("/api/v1/orders.csv")
    assert order_id in export.text
    assert "Keizersgracht" not in export.text
    listed = await shop.api.get("/api/v1/orders")
    assert all(o["shipping"] is None for o in listed.json()["orders"] if o["id"] == order_id)
    assert await shop.platform.fans.notifications(fan.id, 10) == []
    assert shop.platform.fans.held_claims(fan.id) == []  # the held unit went back
    # Every token of the fan stops working: the API's bearer and the browser's cookie.
    assert (await shop.anyone.get("/api/v1/me/claims", headers=fan.auth)).status_code == 401
    assert (await fan.browser.get("/me")).status_code == 303
    # and no sign-in link is sent to the old address
    sent = await shop.anyone.post("/signin", data={"email": fan.email}, headers={"origin": ORIGIN})
    assert sent.status_code == 200
    assert await shop.platform.store.notifications.due_emails(shop.clock.now(), 100) == []
