"""The maker's orders over HTTP, in-process (httpx over ASGI, a fake clock): an order's own
page, the search, the refund that needs a reason and a confirmation (admin form and API),
where each order ships (list, page, CSV export), and the dashboard's curve from the record.
Nobody but the signed-in admin sees any of it."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Order
from soldout.domain.errors import StorageUnavailable
from soldout.services import Platform
from soldout.services.fulfilment import EXPORT_COLUMNS
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import shipping_address

ADMIN = "adm_in_process_token"
ORIGIN = "http://soldout.test"

AMSTERDAM = {
    "name": "Ann de Vries",
    "line1": "Keizersgracht 1",
    "line2": "3rd floor",
    "postal_code": "1015 CD",
    "city": "Amsterdam",
    "country": "NL",
    "phone": "020 123 4567",
}
SLY = {  # text that a spreadsheet would run as a formula
    "name": '=HYPERLINK("http://x")',
    "line1": "+1 Main Street",
    "line2": "@home",
    "postal_code": "94105",
    "city": "-San Francisco",
    "region": "=CA",
    "country": "US",
    "phone": "+1 415 555 2671",
}


@dataclass
class Shop:
    platform: Platform
    clock: FakeClock
    http: httpx.AsyncClient  # anyone: no cookie, no token
    admin: httpx.AsyncClient  # the signed-in admin's browser
    launch_id: str = ""

    async def fan(self, name: str, email: str | None = None, **extra: Any) -> dict[str, Any]:
        email = email or f"{name.lower()}-{uuid.uuid4().hex[:6]}@fans.test"
        made = await self.http.post("/api/v1/fans", json={"email": email, "name": name, **extra})
        assert made.status_code == 201, made.text
        return {**made.json(), "email": email, "name": name}

    async def buy(
        self,
        fan: dict[str, Any],
        sku: str = "A",
        address: dict[str, str] | None = None,
        *,
        before_addresses: bool = False,
    ) -> Order:
        auth = {"authorization": f"Bearer {fan['token']}"}
        held = await self.http.post(
            f"/api/v1/launches/{self.launch_id}/claims",
            json={"sku": sku},
            headers={**auth, "idempotency-key": uuid.uuid4().hex},
        )
        assert held.status_code == 201, held.text
        # where to ship, given at payment as the storefront does
        ship_to = address or shipping_address(fan["name"])
        paid = await self.http.post(
            f"/api/v1/claims/{held.json()['id']}/payment",
            json={"method": "test", "token": "tok_ok", "shipping": ship_to},
            headers={**auth, "idempotency-key": uuid.uuid4().hex},
        )
        assert paid.status_code == 200, paid.text
        order = self.platform.engine.orders.get(paid.json()["id"])
        assert order is not None
        assert order.shipping == ShippingAddress.parse(ship_to)
        if before_addresses:  # as an order paid before soldout asked where to ship
            order.shipping = None
            await self.platform.store.orders.update([order])
        return order

    async def csrf(self, path: str) -> str:
        page = await self.admin.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert found
        return found.group(1)

    async def refund_form(self, order_id: str, **fields: str) -> httpx.Response:
        token = await self.csrf(f"/admin/orders/{order_id}")
        return await self.admin.post(
            f"/admin/orders/{order_id}/refund", data={"csrf": token, **fields}
        )


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = FakeClock()
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, ADMIN), clock=clock)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    async with (
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as anyone,
        httpx.AsyncClient(
            transport=transport, base_url=ORIGIN, headers={"origin": ORIGIN}
        ) as admin,
    ):
        signed = await admin.post("/admin/signin", data={"token": ADMIN})
        assert signed.status_code == 303, signed.text
        shop = Shop(platform, clock, anyone, admin)
        product = await admin.post(
            "/api/v1/products",
            headers={"authorization": f"Bearer {ADMIN}"},
            json={
                "name": "Model One",
                "skus": [
                    {"code": c, "name": f"Colour {c}", "price": 2500, "currency": "EUR"}
                    for c in ("A", "B")
                ],
            },
        )
        assert product.status_code == 201, product.text
        launch = await admin.post(
            "/api/v1/launches",
            headers={"authorization": f"Bearer {ADMIN}"},
            json={
                "product_id": product.json()["id"],
                "title": "First batch",
                "sale_opens_at": (clock.now() - timedelta(seconds=1)).isoformat(),
                "batch": {"A": 5, "B": 5},
                "per_fan_limit": 2,
                "race": "fast",  # the unguarded race: no waiting room to pass here
            },
        )
        assert launch.status_code == 201, launch.text
        shop.launch_id = launch.json()["id"]
        try:
            yield shop
        finally:
            await platform.stop()


def text_of(page: httpx.Response) -> str:
    """The page's words, without tags, as a person reads them."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def api(shop: Shop) -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


async def refunds_logged(shop: Shop) -> list[tuple[str, dict[str, Any]]]:
    """(order id, detail) of each refund in the audit log, oldest first."""
    entries = await shop.platform.store.audit.recent(100)
    return [(e.subject, dict(e.detail)) for e in reversed(entries) if e.action == "order.refund"]


# -- an order's page -----------------------------------------------------------------------


async def test_an_orders_page_shows_its_record_and_the_list_links_to_it(shop: Shop) -> None:
    rita = await shop.fan("Rita")
    ann = await shop.fan("Ann", referral_code=rita["referral_code"])
    order = await shop.buy(ann, "B", AMSTERDAM)
    shop.clock.advance(60)

    listed = await shop.admin.get(f"/admin/orders?launch_id={shop.launch_id}")
    assert f'href="/admin/orders/{order.id}?launch_id={shop.launch_id}"' in listed.text
    assert "Amsterdam, Netherlands" in text_of(listed)  # where it ships, in the list

    page = await shop.admin.get(f"/admin/orders/{order.id}?launch_id={shop.launch_id}")

    assert page.status_code == 200, page.text
    words = text_of(page)
    for shown in (
        "Model One · Colour B",
        "EUR 25.00",
        "2030-01-01 12:00:00 UTC",  # paid
        # the whole address, as a label prints it, with the phone in E.164
        "Ann de Vries Keizersgracht 1 3rd floor 1015 CD Amsterdam Netherlands +31201234567",
        ann["email"],
        f"Rita ( {rita['email']} )",  # who referred the buyer
        order.claim_id,
        "test (test) captured",  # the payment: provider, method, state
        "EUR 25.00 in full",  # what the refund will give back
        "its unit goes back on sale",
    ):
        assert shown in words, shown
    assert "paid : paid EUR 25.00" in words  # the history, from the record
    assert f'href="/admin/orders?launch_id={shop.launch_id}"' in page.text  # back to the list
    assert (await shop.admin.get("/admin/orders/ord_nothing")).status_code == 404


async def test_an_order_paid_before_addresses_says_so(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Old"), before_addresses=True)
    page = await shop.admin.get(f"/admin/orders/{order.id}")
    assert "No address on record: the order was paid before soldout asked for one." in (
        text_of(page)
    )
    listed = await shop.admin.get("/admin/orders")
    assert "no address" in text_of(listed)


async def test_nobody_but_the_admin_sees_an_order_or_its_buyer(shop: Shop) -> None:
    ann = await shop.fan("Ann")
    order = await shop.buy(ann, address=AMSTERDAM)
    ben = await shop.fan("Ben")
    pages = (f"/admin/orders/{order.id}", f"/admin/orders?q={ann['email']}", "/admin/orders")
    for who in ({}, {"authorization": f"Bearer {ben['token']}"}, {"cookie": "soldout_fan=x"}):
        for path in pages:
            answer = await shop.http.get(path, headers=who)
            assert answer.status_code == 303, path  # to the sign-in page, and nothing else
            assert answer.headers["location"].startswith("/admin/signin?next=")
            assert ann["email"] not in answer.text
            assert "Keizersgracht" not in answer.text
    # a fan's own token reaches neither the admin's order list nor its export
    for path in ("/api/v1/orders", "/api/v1/orders.csv"):
        refused = await shop.http.get(path, headers={"authorization": f"Bearer {ben['token']}"})
        assert refused.status_code == 403, path
        assert ann["email"] not in refused.text
    # and another fan's order is not theirs to read: as if it did not exist
    path = f"/api/v1/orders/{order.id}"
    own = await shop.http.get(path, headers={"authorization": f"Bearer {ann['token']}"})
    assert own.status_code == 200
    theirs = await shop.http.get(path, headers={"authorization": f"Bearer {ben['token']}"})
    assert theirs.status_code == 404
    assert ann["email"] not in theirs.text


async def test_a_payment_given_back_has_its_own_page_and_an_order_links_its_payments(
    shop: Shop,
) -> None:
    """The page the team's "payment given back" e-mail links to: no order, the reason,
    the fan and the claim; an order's payments link to theirs."""
    store = shop.platform.store
    assert isinstance(store, InMemoryStore)
    ann = await shop.fan("Ann")
    auth = {"authorization": f"Bearer {ann['token']}"}
    held = await shop.http.post(
        f"/api/v1/launches/{shop.launch_id}/claims",
        json={"sku": "A"},
        headers={**auth, "idempotency-key": "c1"},
    )
    store.fail_next_transaction(StorageUnavailable())  # the order cannot be recorded
    failed = await shop.http.post(
        f"/api/v1/claims/{held.json()['id']}/payment",
        json={"method": "test", "token": "tok_ok", "shipping": shipping_address("Ann")},
        headers={**auth, "idempotency-key": "p1"},
    )
    assert failed.status_code == 503, failed.text
    await shop.platform.engine.background.drain()  # the money goes back
    [payment] = shop.platform.engine.checkout.payments_of(held.json()["id"])
    page = await shop.admin.get(f"/admin/payments/{payment.id}")
    assert page.status_code == 200, page.text
    words = text_of(page)
    for shown in (
        f"Payment {payment.id} refunded",
        "No order: the money went back to the fan (the order could not be recorded)",
        "EUR 25.00",
        ann["email"],
        held.json()["id"],
        "1 \u00d7 Colour A",
        "State held",  # the claim is held again: the fan may pay once more
    ):
        assert shown in words, shown
    assert f'href="/admin/orders?q={ann["id"]}"' in page.text
    assert (await shop.admin.get("/admin/payments/pay_nothing")).status_code == 404
    assert (await shop.http.get(f"/admin/payments/{payment.id}")).status_code == 303  # sign in

    order = await shop.buy(ann, "B")
    [paid] = shop.platform.engine.checkout.payments_of(order.claim_id)
    order_page = await shop.admin.get(f"/admin/orders/{order.id}")
    assert f'href="/admin/payments/{paid.id}"' in order_page.text
    paid_page = text_of(await shop.admin.get(f"/admin/payments/{paid.id}"))
    assert f"Its claim became order {order.id}" in paid_page


# -- search ----------------------------------------------------------------------------------


async def test_search_finds_orders_by_email_or_id_and_says_when_nothing_matches(
    shop: Shop,
) -> None:
    ann = await shop.fan("Ann", email="Ann.Smith@Example.com")
    first, second = await shop.buy(ann, "A"), await shop.buy(ann, "B")
    other = await shop.buy(await shop.fan("Ben"))

    by_email = await shop.admin.get("/admin/orders", params={"q": "  ANN.smith@example.COM "})
    words = text_of(by_email)
    assert "2 orders of the buyer ANN.smith@example.COM , newest first." in words
    assert f"/admin/orders/{second.id}" in by_email.text
    assert first.id in by_email.text
    assert other.id not in by_email.text
    assert by_email.text.index(second.id) < by_email.text.index(first.id)

    for query, matched in ((other.id, "with the id"), (other.claim_id, "from claim")):
        found = await shop.admin.get("/admin/orders", params={"q": query})
        assert f"1 order {matched} {query}" in text_of(found)
        assert f"/admin/orders/{other.id}" in found.text
        assert first.id not in found.text
    of_fan = await shop.admin.get("/admin/orders", params={"q": ann["id"]})
    assert f"2 orders of fan {ann['id']}" in text_of(of_fan)

    for query in ("nobody@example.com", other.id[:-1], "ord_"):
        nothing = await shop.admin.get("/admin/orders", params={"q": query})
        assert nothing.status_code == 200
        assert f"Nothing found for “{query}”" in text_of(nothing)
        assert "/admin/orders/ord_" not in nothing.text  # no rows

    keen = await shop.fan("Keen")  # registered, never bought
    none_yet = await shop.admin.get("/admin/orders", params={"q": keen["email"]})
    assert f"The buyer {keen['email']} has no orders." in text_of(none_yet)

    bad = await shop.admin.get("/admin/orders", params={"q": "ann@"})
    assert "'ann@' is not an e-mail address (q)" in text_of(bad)
    assert "/admin/orders/ord_" not in bad.text


# -- refunds: a reason and a confirmation ----------------------------------------------------


async def test_the_admin_refund_needs_a_reason_and_a_confirmation(shop: Shop) -> None:
    ann = await shop.fan("Ann")
    order = await shop.buy(ann)
    stock = shop.platform.engine.book(shop.launch_id).stock["A"]
    assert stock.available == 4

    for fields, field in (
        ({"confirm": "yes"}, "reason"),  # no reason
        ({"reason": "   ", "confirm": "yes"}, "reason"),  # a blank one
        ({"reason": "x" * 501, "confirm": "yes"}, "reason"),
        ({"reason": "asked by the fan"}, "confirm"),  # not confirmed
        ({"reason": "asked by the fan", "confirm": "no"}, "confirm"),
    ):
        refused = await shop.refund_form(order.id, **fields)
        assert refused.status_code == 400, fields
        said = text_of(refused)
        assert said.count("Not refunded: ") == 1, said
        assert "Not done: " not in said  # said once, in the form, beside its field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', refused.text), field
        assert (order.status.value, stock.available) == ("paid", 4), fields
        if "reason" in fields and fields["reason"].strip() and len(fields["reason"]) < 500:
            assert ">asked by the fan</textarea>" in refused.text  # what was typed is kept
    assert await refunds_logged(shop) == []

    done = await shop.refund_form(order.id, reason=" arrived\nbroken ", confirm="yes")

    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/orders/{order.id}?refunded=on_sale"
    assert order.status.value == "refunded"
    assert stock.available == 5
    page = await shop.admin.get(done.headers["location"])
    words = text_of(page)
    assert "Refunded EUR 25.00; its unit is back on sale. The fan was told why." in words
    assert "refunded : EUR 25.00 refunded: arrived broken" in words  # in the history
    assert 'name="confirm"' not in page.text  # nothing left to refund
    notes = await shop.platform.store.notifications.for_fan(ann["id"], 10)
    assert "arrived broken" in notes[0].message  # the fan was told the reason
    assert await refunds_logged(shop) == [(order.id, {"reason": "arrived broken"})]

    # a stale tab posts again: nothing happens, nothing more is logged
    again = await shop.admin.post(
        f"/admin/orders/{order.id}/refund",
        data={"csrf": await shop.csrf("/admin/orders"), "reason": "again", "confirm": "yes"},
    )
    assert again.headers["location"] == f"/admin/orders/{order.id}?again=1"
    assert "was already refunded" in text_of(await shop.admin.get(again.headers["location"]))
    assert stock.available == 5
    assert len(await refunds_logged(shop)) == 1


async def test_the_refund_form_says_where_the_unit_goes_and_keeps_the_list(shop: Shop) -> None:
    shipped_one = await shop.buy(await shop.fan("Sam"))
    waiting = await shop.buy(await shop.fan("Wes"))
    await shop.platform.fulfilment.ship_next(
        shop.platform.engine.book(shop.launch_id).product.id, "A", 1, "DHL", ["JD01"]
    )
    assert shipped_one.status.value == "shipped"
    assert waiting.status.value == "paid"
    page = await shop.admin.get(f"/admin/orders/{shipped_one.id}")
    assert "it has shipped: the fan keeps the unit and stock is not touched" in text_of(page)
    assert "DHL · JD01" in text_of(page)

    query = f"launch_id={shop.launch_id}&status=paid"
    form = await shop.admin.get(f"/admin/orders/{waiting.id}?{query}")
    assert f'action="/admin/orders/{waiting.id}/refund?{query}"' in form.text.replace("&amp;", "&")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert token
    done = await shop.admin.post(
        f"/admin/orders/{waiting.id}/refund?{query}",
        data={"csrf": token.group(1), "reason": "duplicate order", "confirm": "yes"},
    )
    assert done.headers["location"] == f"/admin/orders/{waiting.id}?{query}&refunded=on_sale"
    back = await shop.admin.get(done.headers["location"])
    assert f'href="/admin/orders?{query}"' in back.text.replace("&amp;", "&")


async def test_a_refund_form_from_elsewhere_or_without_sign_in_is_refused(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    fields = {"reason": "forged", "confirm": "yes"}
    no_token = await shop.admin.post(f"/admin/orders/{order.id}/refund", data=fields)
    assert no_token.status_code == 403
    token = await shop.csrf(f"/admin/orders/{order.id}")
    elsewhere = await shop.admin.post(
        f"/admin/orders/{order.id}/refund",
        data={"csrf": token, **fields},
        headers={"origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    anonymous = await shop.http.post(
        f"/admin/orders/{order.id}/refund", data={"csrf": token, **fields}
    )
    assert anonymous.status_code == 303
    assert order.status.value == "paid"


async def test_the_api_refund_needs_a_reason(shop: Shop) -> None:
    order = await shop.buy(await shop.fan("Ann"))
    url = f"/api/v1/orders/{order.id}/refund"
    for body in ({}, {"reason": ""}, {"reason": "  \n "}, {"reason": "x" * 501}):
        refused = await shop.http.post(url, json=body, headers=api(shop))
        assert refused.status_code == 422, body
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("invalid", "reason"), body
        assert order.status.value == "paid", body
    assert shop.platform.engine.book(shop.launch_id).stock["A"].available == 4

    done = await shop.http.post(url, json={"reason": "arrived broken"}, headers=api(shop))

    assert done.status_code == 200, done.text
    assert done.json()["status"] == "refunded"
    assert done.json()["history"][-1]["detail"] == "EUR 25.00 refunded: arrived broken"
    again = await shop.http.post(url, json={"reason": "again"}, headers=api(shop))
    assert (again.status_code, again.json()["refunded_at"]) == (200, done.json()["refunded_at"])
    assert [d for _, d in await refunds_logged(shop)] == [{"reason": "arrived broken"}]


# -- the export's address columns ------------------------------------------------------------


async def test_the_export_carries_the_address_and_defuses_formulas(shop: Shop) -> None:
    ann = await shop.buy(await shop.fan("Ann"), address=AMSTERDAM)
    sly = await shop.buy(await shop.fan("Sly"), address=SLY)
    old = await shop.buy(await shop.fan("Old"), before_addresses=True)

    answer = await shop.http.get("/api/v1/orders.csv", headers=api(shop))

    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    body = {r[0]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]}
    shipping = [c for c in EXPORT_COLUMNS if c.startswith("shipping_")]
    assert [body[ann.id][c] for c in shipping] == [
        "Ann de Vries",
        "Keizersgracht 1",
        "3rd floor",
        "1015 CD",
        "Amsterdam",
        "",
        "NL",
        "+31201234567",  # E.164: digits after a plus, left as it is
    ]
    assert [body[sly.id][c] for c in shipping] == [
        '\'=HYPERLINK("http://x")',
        "'+1 Main Street",
        "'@home",
        "94105",
        "'-San Francisco",
        "'=CA",
        "US",
        "+14155552671",
    ]
    assert [body[old.id][c] for c in shipping] == [""] * 8
    listed = await shop.http.get("/api/v1/orders", headers=api(shop))
    ships_to = {o["id"]: o["shipping"] for o in listed.json()["orders"]}
    assert ships_to[ann.id] == {**AMSTERDAM, "region": "", "phone": "+31201234567"}
    assert ships_to[old.id] is None
    # the admin's download is the same stream
    page_csv = await shop.admin.get("/admin/orders.csv")
    assert page_csv.text == answer.text


# -- the dashboard's curve -------------------------------------------------------------------


async def test_a_dashboard_opened_mid_sale_starts_with_the_whole_curve(shop: Shop) -> None:
    """Two minutes of a sale happen before the page is opened: the page carries every
    moment since the opening, computed from the record."""
    fans = [await shop.fan(f"F{i}") for i in range(4)]
    for i, fan in enumerate(fans):
        shop.clock.advance(30)
        await shop.buy(fan, "A" if i % 2 == 0 else "B")
    shop.clock.advance(10)

    page = await shop.admin.get(f"/admin/launches/{shop.launch_id}/dashboard")

    assert page.status_code == 200
    found = re.search(r'<script type="application/json" id="curve">(.*?)</script>', page.text)
    assert found
    curve = json.loads(found.group(1))
    points = curve["points"]
    assert curve["step_seconds"] == 1
    assert len(points) == 132
    assert points[0]["at"] == "2030-01-01T11:59:59+00:00"  # when the sale opened
    assert points[-1]["at"] == "2030-01-01T12:02:10+00:00"  # now
    assert [p["sold"] for p in points if p["at"].endswith(("00:29+00:00", "00:31+00:00"))] == [
        0,
        1,
    ]
    assert (points[-1]["sold"], points[-1]["claims"], points[-1]["held"]) == (4, 4, 0)
    assert points[-1]["skus"] == {"A": {"sold": 2}, "B": {"sold": 2}}
    assert "Since the sale opened: from 2030-01-01 11:59:59 UTC, a point every 1 second" in (
        text_of(page)
    )
    assert 'id="chart-sku-time"' in page.text  # two SKUs: a line each
