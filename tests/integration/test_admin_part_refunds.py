"""Part refunds over HTTP, in-process: the admin's order page and the API give part of an
order's money back (an amount in the order's currency, with a reason), refuse a wrong
amount on `amount`, refund once per key, and retry one the provider did not confirm."""

from __future__ import annotations

import re

from soldout.domain.refunds import PartRefund
from tests.integration.test_admin_orders import Shop, api, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)


async def ledger_refunded(shop: Shop) -> list[int]:
    return [t.refunded for t in await shop.platform.engine.checkout.provider.transactions()]


async def test_the_admin_refunds_part_of_an_order_which_stands_then_the_rest(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    stock = shop.platform.engine.book(shop.launch_id).stock["A"]
    for typed in ("0", "25.001", "25.01", "ten"):
        refused = await shop.refund_form(order.id, amount=typed, reason="scratched", confirm="yes")
        assert refused.status_code == 400, typed
        assert re.search(r'id="amount"[^>]*aria-invalid="true"', refused.text), typed
        assert f'value="{typed}"' in refused.text  # what was typed is kept
    page = await shop.admin.get(f"/admin/orders/{order.id}")
    key = re.search(r'name="key" value="([0-9a-f]+)"', page.text)
    assert key
    fields = {"amount": "5.50", "reason": "scratched", "confirm": "yes", "key": key.group(1)}

    done = await shop.refund_form(order.id, **fields)
    twice = await shop.refund_form(order.id, **fields)  # a second click: the same refund

    assert (
        done.headers["location"] == twice.headers["location"] == f"/admin/orders/{order.id}?part=1"
    )
    assert (order.status.value, stock.available, stock.paid) == ("paid", 4, 1)
    assert await ledger_refunded(shop) == [550]
    words = text_of(await shop.admin.get(done.headers["location"]))
    assert "Refunded EUR 5.50 of this order; it stands and ships as planned." in words
    assert "Refunded so far EUR 5.50 of EUR 25.00" in words
    assert "refunded part : EUR 5.50 refunded: scratched" in words  # in the history
    assert "Empty: all that is left, EUR 19.50." in words
    entries = await shop.platform.store.audit.recent(10)
    parts = [dict(e.detail) for e in entries if e.action == "order.refund_part"]
    assert parts == [{"reason": "scratched", "amount": "EUR 5.50"}]

    rest = await shop.refund_form(order.id, reason="sent back", confirm="yes")

    assert rest.headers["location"] == f"/admin/orders/{order.id}?refunded=on_sale"
    assert (order.status.value, stock.available) == ("refunded", 5)
    assert await ledger_refunded(shop) == [2500]
    words = text_of(await shop.admin.get(f"/admin/orders/{order.id}"))
    assert "EUR 25.00 in all (EUR 19.50 at the end)" in words
    assert "refunded : EUR 19.50 refunded: sent back" in words


async def test_a_part_refund_left_unconfirmed_is_retried_from_the_orders_page(shop: Shop) -> None:
    """soldout stopped after writing the refund, before the provider heard of it: the page
    says so, refuses another refund meanwhile and retries this one under its own key."""
    order = await shop.buy(await shop.fan("Ann"))
    order.refunds = (PartRefund("rfd_left", "k-left", 300, "scratched", shop.clock.now()),)
    await shop.platform.store.orders.update([order])
    page = await shop.admin.get(f"/admin/orders/{order.id}")
    assert "not confirmed by the provider" in text_of(page)

    other = await shop.refund_form(order.id, amount="1.00", reason="late", confirm="yes")
    assert other.status_code == 409
    assert "is still being made: retry it first" in text_of(other)
    retry = re.search(r'<form[^>]*class="inline">(.*?)</form>', page.text, re.S)
    assert retry
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', retry.group(1)))
    assert {k: fields[k] for k in ("key", "amount", "reason")} == {
        "key": "k-left",
        "amount": "3.00",
        "reason": "scratched",
    }
    done = await shop.admin.post(f"/admin/orders/{order.id}/refund", data=fields)

    assert done.headers["location"] == f"/admin/orders/{order.id}?part=1"
    assert [(r.id, r.done) for r in order.refunds] == [("rfd_left", True)]
    assert await ledger_refunded(shop) == [300]


async def test_the_api_refunds_an_amount_once_per_key(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    url = f"/api/v1/orders/{order.id}/refund"
    for amount in ("ten", "-1", "0", "1.234", "25.01", "1e3"):
        body = {"reason": "late", "amount": amount}
        refused = await shop.http.post(url, json=body, headers=api(shop))
        assert refused.status_code == 422, amount
        assert refused.json()["error"]["field"] == "amount", amount
    keyed = {**api(shop), "idempotency-key": "late-1"}

    part = await shop.http.post(url, json={"reason": "late", "amount": "5.00"}, headers=keyed)
    again = await shop.http.post(url, json={"reason": "late", "amount": "5.00"}, headers=keyed)
    other = await shop.http.post(url, json={"reason": "late", "amount": "6.00"}, headers=keyed)

    assert (part.status_code, again.status_code) == (200, 200), part.text
    view = again.json()
    assert (view["status"], view["refunded_amount"]) == ("paid", 500)
    assert [(r["amount"], r["reason"], r["pending"]) for r in view["refunds"]] == [
        (500, "late", False)
    ]
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert await ledger_refunded(shop) == [500]
    rest = await shop.http.post(
        url, json={"reason": "sent back", "amount": "20"}, headers=api(shop)
    )
    assert (rest.json()["status"], rest.json()["refunded_amount"]) == ("refunded", 2500)
    assert await ledger_refunded(shop) == [2500]
    entries = await shop.platform.store.audit.recent(10)
    assert [(e.action, e.detail["amount"]) for e in reversed(entries) if "refund" in e.action] == [
        ("order.refund_part", "EUR 5.00"),
        ("order.refund", "EUR 20.00"),
    ]
