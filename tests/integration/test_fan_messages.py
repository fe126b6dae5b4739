"""Every message a fan is sent shows on their page in their language: the stored text of a
notification is English, so each kind needs its own words on the page (seen in Dutch:
reminders, the waiting room's turn and the board's news were shown in English)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from soldout.domain.notifications import Notification
from soldout.domain.shop import Shop as ShopLook
from soldout.ids import new_id
from soldout.mail.compose import Composer
from soldout.mail.facts import EngineFacts
from tests.integration.test_fan_journeys import AMSTERDAM, ORIGIN, Shop, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)

SRC = Path(__file__).resolve().parents[2] / "src" / "soldout"
MADE = re.compile(r'Notification\(\s*new_id\("ntf"\),\s*[\w.]+,\s*"(\w+)"')


def _samples(launch: dict[str, Any], claim_id: str, when: str) -> dict[str, dict[str, Any]]:
    """Each kind's data, as the code that makes it writes it."""
    lid = launch["id"]
    return {
        "sign_in_link": {},
        "reservation_confirmed": {"launch_id": lid, "draw": False},
        "draw_won": {"launch_id": lid, "sku": "A", "claim_id": claim_id, "expires_at": when},
        "draw_lost": {"launch_id": lid, "backup_place": 2},
        "order_confirmed": {"order_id": "ord_x", "ship_date": "2026-12-24"},
        "ship_date_changed": {"order_id": "ord_x", "after": "2026-12-28"},
        "order_shipped": {"order_id": "ord_x", "carrier": "DHL", "tracking": "JJD01"},
        "tracking_changed": {
            "order_id": "ord_x",
            "carrier": "DHL",
            "tracking": "JD02",
            "before": "JD01",
        },
        "order_refunded": {"order_id": "ord_x"},
        "order_refunded_part": {
            "order_id": "ord_x",
            "refund_id": "rfd_x",
            "amount": 550,
            "currency": "EUR",
            "reason": "scratched",
        },
        "payment_refunded": {"why": "late"},
        "payment_declined": {"claim_id": claim_id},
        "launch_cancelled": {"launch_id": lid, "bought": False},
        "opening_moved": {"launch_id": lid, "before": when, "after": when, "draw": False},
        "priority_code_granted": {"launch_id": lid, "codes": ["F-AAAA-BBBB-CCCC"]},
        "sale_opening": {"launch_id": lid, "sale_opens_at": when, "draw": False},
        "claim_expiring": {"claim_id": claim_id, "launch_id": lid, "sku": "A", "expires_at": when},
        "admitted": {"launch_id": lid, "admitted_at": when, "expires_at": when},
        "idea_status": {
            "idea_id": "ida_x",
            "status": "planned",
            "title": "Dark mode",
            "reason": None,
            "link": "/ideas/ida_x",
        },
        "idea_shipped": {
            "release_id": "rel_x",
            "release_title": "Firmware 1.4",
            "product_id": launch["product_id"],
            "idea_ids": ["ida_x"],
            "idea_titles": ["Dark mode"],
            "link": "/releases/rel_x",
        },
        "contributor_code": {"launch_id": lid, "codes": ["F-DDDD-EEEE-FFFF"]},
    }


async def test_every_kind_of_message_shows_in_the_fans_language(shop: Shop) -> None:
    launch = await shop.launch()
    fan = await shop.fan("Anouk")
    fan.browser.cookies.set("soldout_lang", "nl")
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    when = (shop.clock.now() + timedelta(minutes=10)).isoformat()
    samples = _samples(launch, claim_id, when)
    made = {m for p in SRC.rglob("*.py") for m in MADE.findall(p.read_text())}
    assert made == set(samples), "a kind of message the code makes has no sample here"
    notes = [
        Notification(new_id("ntf"), fan.id, kind, f"ENGLISH TEXT OF {kind}", shop.clock.now(), data)
        for kind, data in samples.items()
    ]
    async with shop.platform.store.transaction() as tx:
        tx.notifications.add_many(notes)
    me = await fan.browser.get("/me")
    assert me.status_code == 200, me.text
    page = text_of(me)
    assert "ENGLISH TEXT OF" not in page, re.findall(r"ENGLISH TEXT OF \w+", page)
    assert "Een idee waarop je stemde is gepland: “Dark mode”." in page
    assert "Je bestelling heeft een verzenddatum:" in page  # its first date: no "moved"


async def test_an_orders_history_reads_in_the_fans_language(shop: Shop) -> None:
    """It read "已付款: paid EUR 249.00" and "Refunded: EUR 199.00 refunded: cancelled by
    the fan": the stored English detail after the translated kind."""
    launch = await shop.launch()
    fan = await shop.fan("Li")
    fan.browser.cookies.set("soldout_lang", "zh_Hans")
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    paid = await shop.pay(fan, claim_id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order_id = paid.json()["id"]
    cancelled = await shop.anyone.post(f"/api/v1/orders/{order_id}/cancel", headers=fan.auth)
    assert cancelled.status_code == 200, cancelled.text
    history = text_of(await fan.browser.get(f"/orders/{order_id}")).split("记录", 1)[1]
    for english in ("paid", "refunded", "EUR"):
        assert english not in history
    assert "已付款: €199.00" in history
    assert "已退款: €199.00 (你取消了订单)" in history


async def test_a_part_refund_shows_on_the_fans_order_and_account_with_its_reason(
    shop: Shop,
) -> None:
    launch = await shop.launch()
    fan = await shop.fan("Ann")
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    paid = await shop.pay(fan, claim_id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order_id = paid.json()["id"]
    await shop.platform.fulfilment.refund_amount(order_id, "a scratch on the lid", "5.50", "k")

    order = text_of(await fan.browser.get(f"/orders/{order_id}"))
    me = text_of(await fan.browser.get("/me"))

    assert "Refunded so far €5.50" in order
    assert "Refunded in part: €5.50 (a scratch on the lid)" in order.split("History", 1)[1]
    assert "Cancel and refund" in order  # it stands: the fan may still cancel the rest
    assert "€5.50 refunded" in me
    said = "We refunded €5.50 of your order: a scratch on the lid. Your order stands and ships"
    assert said in me


async def test_the_join_page_says_invited_only_for_a_code_that_is_one(shop: Shop) -> None:
    """With `?ref=NOTACODE` it said both "You were invited with code NOTACODE." and, once
    sent, "We do not know this referral code"."""
    ann = await shop.fan("Ann")
    record = await shop.platform.store.fans.get(ann.id)
    assert record is not None
    async with shop.browser() as visitor:
        invited = text_of(await visitor.get("/join", params={"ref": record.referral_code}))
        unknown = text_of(await visitor.get("/join", params={"ref": "NOTACODE"}))
    assert f"You were invited with code {record.referral_code}." in invited
    assert "You were invited" not in unknown


async def test_the_fans_emails_follow_the_zone_their_browser_reports(shop: Shop) -> None:
    """While store.js sent the zone URL-encoded, fans who joined or signed in were kept at
    UTC, so their e-mails said UTC: their account page puts it right. Once the record has
    a zone, another browser's leaves it (the fan takes it on /me: test_sign_in_elsewhere)."""
    fan = await shop.fan("Anouk")
    record = await shop.platform.store.fans.get(fan.id)
    assert record is not None
    await shop.platform.store.fans.update(replace(record, time_zone="UTC"))
    for cookie, kept in (
        ("Mars%2FBase", "UTC"),  # no zone: nothing changes
        ("Europe%2FAmsterdam", "Europe/Amsterdam"),  # as store.js used to write it
        ("Asia/Shanghai", "Europe/Amsterdam"),
    ):
        fan.browser.cookies.set("soldout_tz", cookie)
        assert (await fan.browser.get("/me")).status_code == 200
        now = await shop.platform.store.fans.get(fan.id)
        assert now is not None
        assert now.time_zone == kept, cookie


async def test_a_fan_registered_through_the_api_gets_e_mails_in_the_zone_given(
    shop: Shop,
) -> None:
    """Their sign-in e-mail named its time in UTC until they first opened /me."""
    refused = await shop.anyone.post(
        "/api/v1/fans",
        json={"email": "mars@fans.test", "name": "Mars", "time_zone": "Mars/Base"},
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("unknown_time_zone", "time_zone")
    assert await shop.platform.store.fans.by_email("mars@fans.test") is None

    email = "lin@fans.test"
    made = await shop.anyone.post(
        "/api/v1/fans",
        json={"email": email, "name": "Lin", "locale": "zh_Hans", "time_zone": "Asia/Shanghai"},
    )
    assert made.status_code == 201, made.text
    asked = await shop.anyone.post("/signin", data={"email": email}, headers={"origin": ORIGIN})
    assert asked.status_code == 200
    (outgoing,) = [
        e
        for e in await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
        if e.notification.kind == "sign_in_link"
    ]
    composer = Composer(
        sender=Address(addr_spec="shop@shop.test"),
        base_url=ORIGIN,
        facts=EngineFacts(shop.platform.engine),
    )
    letter = (await composer.compose(outgoing, ShopLook(name="Shop"), shop.clock.now())).parsed()
    body = letter.get_body(("plain",))
    assert body is not None
    expires = datetime.fromisoformat(outgoing.notification.data["expires_at"])
    local = expires.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local:%H:%M} (中国时间)" in body.get_content()


async def test_a_closed_round_offers_nothing_to_buy(shop: Shop) -> None:
    """It said "This round has ended" beside "1 left" and a button to buy with a code."""
    launch = await shop.launch()
    fan = await shop.fan("Bram")
    closed = await shop.api.patch(
        f"/api/v1/launches/{launch['id']}",
        json={"sale_closes_at": shop.clock.now().isoformat()},
    )
    assert closed.json()["status"] == "closed", closed.text
    page = await fan.browser.get(f"/launches/{launch['id']}")
    assert 'id="buy"' not in page.text
    assert 'id="priority-code"' not in page.text
    assert " left" not in text_of(page)


async def test_the_words_the_shop_chose_by_default_read_in_the_fans_language(
    shop: Shop,
) -> None:
    """A fan's level ("fan", "friend") and an idea's default category ("general") were
    shown in English on Chinese and Dutch pages."""
    launch = await shop.launch()
    fan = await shop.fan("Li")
    fan.browser.cookies.set("soldout_lang", "zh_Hans")
    ideas = f"/api/v1/products/{launch['product_id']}/ideas"
    made = await shop.anyone.post(ideas, json={"title": "Dark mode"}, headers=fan.auth)
    assert made.status_code == 201, made.text
    me = text_of(await fan.browser.get("/me"))
    assert "粉丝" in me
    idea = text_of(await fan.browser.get(f"/ideas/{made.json()['id']}"))
    assert "综合" in idea
    assert "general" not in idea


async def test_an_order_page_names_the_quantity_and_a_refund_after_shipping(shop: Shop) -> None:
    launch = await shop.launch(per_fan_limit=2)
    fan = await shop.fan()
    held = await shop.claim(fan, launch["id"], quantity=2)
    assert held.status_code == 201, held.text
    assert "2 \u00d7 " in text_of(await fan.browser.get("/me"))
    paid = await shop.pay(fan, held.json()["id"], shipping=AMSTERDAM)
    order_id = paid.json()["id"]
    assert "2 \u00d7 " in text_of(await fan.browser.get(f"/orders/{order_id}"))
    assert "2 \u00d7 " in text_of(await fan.browser.get("/me"))

    sku_url = f"/api/v1/products/{launch['product_id']}/skus/A"
    shipped = await shop.api.post(f"{sku_url}/shipments", json={"count": 1, "carrier": "DHL"})
    assert shipped.status_code == 200, shipped.text
    refunded = await shop.api.post(f"/api/v1/orders/{order_id}/refund", json={"reason": "broken"})
    assert refunded.status_code == 200, refunded.text

    page = text_of(await fan.browser.get(f"/orders/{order_id}"))
    assert "Refunded" in page
    assert "It had shipped on" in page
    assert "will not ship" not in page
