"""The fan's journeys that used to dead-end, over HTTP in-process (httpx over ASGI, a fake
clock, the in-memory store): a draw's winner and losers are told and the winner pays; a
held claim stays reachable after the fan leaves the page; a refunded order shows no ship
date; the shipping address is taken and checked at payment; a fan takes their data away
and erases the account; the pages speak Dutch and Chinese; cookies and sign-in links."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from email.headerregistry import Address
from html import unescape
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.notifications import Notification
from soldout.domain.shop import Shop as ShopLook
from soldout.ids import new_id
from soldout.mail.compose import Composer
from soldout.mail.facts import EngineFacts
from soldout.services import Platform
from soldout.services.demo_art import phone_back, phone_front
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.ports import OutgoingEmail

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

ADMIN = "adm_in_process_token_for_journeys"
ORIGIN = "http://shop.test"
AMSTERDAM = {
    "name": "Ann de Vries",
    "line1": "Keizersgracht 1",
    "postal_code": "1015cd",
    "city": "Amsterdam",
    "country": "nl",
    "phone": "020 123 4567",
}


@dataclass
class Fan:
    id: str
    token: str
    email: str
    browser: httpx.AsyncClient  # signed in through the storefront (cookie)

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@dataclass
class Shop:
    platform: Platform
    clock: FakeClock
    transport: httpx.ASGITransport
    api: httpx.AsyncClient  # the maker's token
    anyone: httpx.AsyncClient
    product_id: str = ""

    async def launch(self, **fields: Any) -> dict[str, Any]:
        body = {
            "product_id": self.product_id,
            "title": "Model One: first round",
            "sale_opens_at": (self.clock.now() - timedelta(seconds=1)).isoformat(),
            "batch": {"A": 5, "B": 5},
            "race": "fast",
            **fields,
        }
        made = await self.api.post("/api/v1/launches", json=body)
        assert made.status_code == 201, made.text
        launch: dict[str, Any] = made.json()
        return launch

    def browser(self, **cookies: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, base_url=ORIGIN, headers={"origin": ORIGIN}, cookies=cookies
        )

    async def fan(self, name: str = "Ann", **headers: str) -> Fan:
        """A fan who joined through the storefront's form, as a browser does."""
        browser = httpx.AsyncClient(
            transport=self.transport, base_url=ORIGIN, headers={"origin": ORIGIN, **headers}
        )
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@fans.test"
        joined = await browser.post("/join", data={"name": name, "email": email, "next": "/me"})
        assert joined.status_code == 303, joined.text
        fan = await self.platform.store.fans.by_email(email)
        assert fan is not None
        return Fan(fan.id, self.platform.tokens.fan_token(fan.id), email, browser)

    async def claim(self, fan: Fan, launch_id: str, sku: str = "A", **body: Any) -> httpx.Response:
        return await self.anyone.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": sku, **body},
            headers={**fan.auth, "idempotency-key": uuid.uuid4().hex},
        )

    async def pay(self, fan: Fan, claim_id: str, **body: Any) -> httpx.Response:
        return await self.anyone.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"method": "test", "token": "tok_ok", **body},
            headers={**fan.auth, "idempotency-key": uuid.uuid4().hex},
        )


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = FakeClock()
    platform = Platform(
        InMemoryStore(), TokenSigner(b"j" * 32, ADMIN), clock=clock, public_url=ORIGIN
    )
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    async with (
        httpx.AsyncClient(
            transport=transport, base_url=ORIGIN, headers={"authorization": f"Bearer {ADMIN}"}
        ) as api,
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as anyone,
    ):
        made = await api.post(
            "/api/v1/products",
            json={
                "name": "Model One",
                "description": "A phone made *with* its fans.",
                "skus": [
                    {"code": "A", "name": "Model One black", "price": 19900, "currency": "EUR"},
                    {"code": "B", "name": "Model One white", "price": 19900, "currency": "EUR"},
                ],
            },
        )
        assert made.status_code == 201, made.text
        for sku in ("A", "B"):
            plan = await api.put(
                f"/api/v1/products/{made.json()['id']}/skus/{sku}/plan",
                json={
                    "starts_on": (clock.now() + timedelta(days=3)).date().isoformat(),
                    "rates": [
                        {
                            "starts_on": (clock.now() + timedelta(days=3)).date().isoformat(),
                            "units_per_day": 2,
                        }
                    ],
                },
            )
            assert plan.status_code == 200, plan.text
        yield Shop(platform, clock, transport, api, anyone, made.json()["id"])
    await platform.stop()


def text_of(page: httpx.Response) -> str:
    """The page's words, tags stripped, whitespace folded."""
    body = re.sub(r"<script.*?</script>", " ", page.text, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


# -- a draw: winners pay, losers are told their place, backups get the unit -------------


async def enter_draw(fans: list[Fan], launch_id: str, sku: str = "A") -> None:
    """Each fan enters the draw for `sku` from the launch's page (as its button does)."""
    for fan in fans:
        entered = await fan.browser.post(
            f"/api/v1/launches/{launch_id}/reservations",
            json={"sku": sku},
            headers={"x-soldout-web": "1"},
        )
        assert entered.status_code == 201, entered.text


async def test_a_draw_winner_is_told_and_pays_losers_learn_their_place(shop: Shop) -> None:
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(
        mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat(), payment_window_seconds=900
    )
    fans = [await shop.fan(f"Fan{i}") for i in range(3)]
    await enter_draw(fans, launch["id"])
    page = text_of(await fans[0].browser.get(f"/launches/{launch['id']}"))
    assert "You are in the draw for Model One black" in page

    shop.clock.set(opens)
    await shop.platform.engine.expire_due()  # the sweeper's wake-up at the opening draws

    winners = [f for f in fans if shop.platform.fans.held_claims(f.id)]
    assert len(winners) == 1
    winner = winners[0]
    losers = [f for f in fans if f is not winner]
    (held,) = shop.platform.fans.held_claims(winner.id)

    launch_page = await winner.browser.get(f"/launches/{launch['id']}")
    words = text_of(launch_page)
    assert "You won: one Model One black is yours if you pay by" in words
    assert f'href="/claims/{held.id}"' in launch_page.text
    me = await winner.browser.get("/me")
    assert "Waiting for your payment" in text_of(me)
    assert f'href="/claims/{held.id}"' in me.text
    assert "You won: one Model One black is held for you." in text_of(me)  # the message

    places = set()
    for loser in losers:
        said = text_of(await loser.browser.get(f"/launches/{launch['id']}"))
        found = re.search(r"You are number (\d+) on the backup list for Model One black", said)
        assert found, said
        places.add(int(found.group(1)))
        notes = await shop.platform.fans.notifications(loser.id, 10)
        assert [n.kind for n in notes][:1] == ["draw_lost"]
    assert places == {1, 2}

    paid = await shop.pay(winner, held.id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order_page = await winner.browser.get(f"/orders/{paid.json()['id']}")
    assert "Ships to Ann de Vries Keizersgracht 1 1015 CD Amsterdam Netherlands" in text_of(
        order_page
    )
    # cancelled, a drawn unit goes down the backup list: it does not go back on sale
    assert "the unit goes to the next fan on the draw's backup list" in text_of(order_page)


async def test_a_backup_gets_the_unit_a_winner_lets_go_and_is_told(shop: Shop) -> None:
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat())
    fans = [await shop.fan(f"Fan{i}") for i in range(2)]
    await enter_draw(fans, launch["id"])
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()
    winner = next(f for f in fans if shop.platform.fans.held_claims(f.id))
    backup = next(f for f in fans if f is not winner)
    (won,) = shop.platform.fans.held_claims(winner.id)

    released = await shop.anyone.delete(f"/api/v1/claims/{won.id}", headers=winner.auth)
    assert released.status_code == 200, released.text
    await shop.platform.engine.background.drain()

    (passed,) = shop.platform.fans.held_claims(backup.id)
    words = text_of(await backup.browser.get(f"/launches/{launch['id']}"))
    assert "You won: one Model One black is yours if you pay by" in words
    me = text_of(await backup.browser.get("/me"))
    assert "A unit came back and you were next on the backup list" in me
    mine = await shop.anyone.get("/api/v1/me/claims", headers=backup.auth)
    assert [c["id"] for c in mine.json()] == [passed.id]
    # the winner let it go: nobody was told that a winner "did not pay", nor that a unit
    # "goes back on sale" (it goes down the backup list)
    (told,) = [n for n in await shop.platform.fans.notifications(backup.id, 10)
               if n.kind == "draw_won"]  # fmt: skip
    expiring = replace(told, kind="claim_expiring", data={"claim_id": passed.id})
    for note in (told, expiring):
        text = await letter_text(shop, note)
        assert "did not pay" not in text, text
        assert "back on sale" not in text, text
    told_text, expiring_text = await letter_text(shop, told), await letter_text(shop, expiring)
    assert "A drawn unit came back, and you were next on the backup list" in told_text
    # they were the last on the list: no "next person" is spoken of, as there is none
    assert "Nobody is left on the backup list to take it." in told_text
    assert "next person" not in told_text
    assert "Nobody is left on the draw's backup list to take it." in expiring_text
    assert "next fan" not in expiring_text
    rules = text_of(await backup.browser.get(f"/launches/{launch['id']}"))
    assert (
        "A winner has 15 minutes to pay. A unit not paid for in time, or given back, passes to"
        " the next fan on the backup list." in rules
    )
    assert "goes back on sale" not in rules


async def test_the_draw_says_a_unit_given_back_passes_down_the_list_too(shop: Shop) -> None:
    """The draw's result said only "if a winner does not pay": a unit a winner gives back
    (a claim let go, an order refunded) passes down the backup list as well. The winner's
    own e-mails speak of the next person on the list while one waits there."""
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat())
    fans = [await shop.fan(f"Fan{i}") for i in range(2)]
    await enter_draw(fans, launch["id"])
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()
    winner = next(f for f in fans if shop.platform.fans.held_claims(f.id))
    backup = next(f for f in fans if f is not winner)

    (lost,) = [n for n in await shop.platform.fans.notifications(backup.id, 10)
               if n.kind == "draw_lost"]  # fmt: skip
    letter = await letter_text(shop, lost)
    assert (
        "You are number 1 on the backup list for Model One black. A unit a winner does not pay"
        " for in time, or gives back, goes to the next person on the list. If that is you, we"
        " e-mail you at once." in letter
    )
    said = {
        "the message": text_of(await backup.browser.get("/me")),
        "the launch page": text_of(await backup.browser.get(f"/launches/{launch['id']}")),
        "the e-mail": letter,
        "the message's own text": lost.message,
    }
    for where, words in said.items():
        assert "or gives back" in words, (where, words)
        assert "if a winner does not pay," not in words, (where, words)

    (won,) = [n for n in await shop.platform.fans.notifications(winner.id, 10)
              if n.kind == "draw_won"]  # fmt: skip
    (held,) = shop.platform.fans.held_claims(winner.id)
    expiring = replace(won, kind="claim_expiring", data={"claim_id": held.id})
    assert "after that it goes to the next person on the backup list" in (
        await letter_text(shop, won)
    )
    assert "the unit passes to the next fan on the draw's backup list" in (
        await letter_text(shop, expiring)
    )


async def test_the_launch_page_s_block_of_the_fan_is_served_alone_as_the_page_has_it(
    shop: Shop,
) -> None:
    """store.js fetches the block again as it polls (`data-live`), so a winner who gave the
    unit back elsewhere no longer reads "You won… Pay now" on the open page."""
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat())
    lid = launch["id"]
    fans = [await shop.fan(f"Fan{i}") for i in range(2)]
    await enter_draw(fans, lid)
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()
    winner = next(f for f in fans if shop.platform.fans.held_claims(f.id))
    backup = next(f for f in fans if f is not winner)

    def block(page: httpx.Response) -> str:
        found = re.search(r'<div id="you".*?</div>', page.text, flags=re.S)
        assert found, page.text
        return found.group(0)

    for fan in (winner, backup):  # the block alone is the page's own, to the character
        alone = await fan.browser.get(f"/launches/{lid}/you")
        assert alone.status_code == 200, alone.text
        assert block(alone) == block(await fan.browser.get(f"/launches/{lid}"))
        assert 'data-live="1"' in alone.text  # a unit to pay for; a place on the list
    assert (await shop.browser().get(f"/launches/{lid}/you")).status_code == 204  # nobody's

    (won,) = shop.platform.fans.held_claims(winner.id)
    released = await shop.anyone.delete(f"/api/v1/claims/{won.id}", headers=winner.auth)
    assert released.status_code == 200, released.text
    await shop.platform.engine.background.drain()

    theirs = await winner.browser.get(f"/launches/{lid}/you")
    assert "You won" not in text_of(theirs)
    assert "/claims/" not in theirs.text
    assert 'data-live="0"' in theirs.text  # nothing more to follow
    assert 'data-held-claim=""' in theirs.text  # (the page's "pay for what you hold" link)
    passed = await backup.browser.get(f"/launches/{lid}/you")
    assert "You won: one Model One black is yours if you pay by" in text_of(passed)
    (theirs_now,) = shop.platform.fans.held_claims(backup.id)
    paid = await shop.pay(backup, theirs_now.id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    ordered = await backup.browser.get(f"/launches/{lid}/you")
    # an order changes over days: fetched when the page is shown again, not at each poll
    assert 'data-live="0"' in ordered.text


def text_of_letter(text: str) -> str:
    return " ".join(text.split())


async def letter_text(shop: Shop, note: Notification) -> str:
    """The plain text of the e-mail the outbox would send for `note`."""
    composer = Composer(
        sender=Address(addr_spec="shop@shop.test"),
        base_url="https://shop.test/",
        facts=EngineFacts(shop.platform.engine),
    )
    outgoing = OutgoingEmail(note, "fan@fans.test", "Fan", "en", "UTC", 0)
    message = (
        await composer.compose(outgoing, ShopLook(name="Model Makers"), shop.clock.now())
    ).parsed()
    body = message.get_body(("plain",))
    assert body is not None
    return text_of_letter(body.get_content())


# -- a held claim stays reachable -----------------------------------------------------------


async def test_a_held_claim_is_listed_with_its_deadline_after_the_fan_leaves(shop: Shop) -> None:
    launch = await shop.launch(payment_window_seconds=600)
    fan = await shop.fan()
    held = await shop.claim(fan, launch["id"])
    assert held.status_code == 201, held.text
    claim_id = held.json()["id"]

    listed = await shop.anyone.get("/api/v1/me/claims", headers=fan.auth)
    assert listed.status_code == 200
    assert [(c["id"], c["state"], c["expires_at"]) for c in listed.json()] == [
        (claim_id, "held", held.json()["expires_at"])
    ]
    me = await fan.browser.get("/me")
    assert f'href="/claims/{claim_id}"' in me.text
    assert "Pay by" in text_of(me)
    # Buying again: the launch page knows which claim the limit message should point to.
    again = await shop.claim(fan, launch["id"])
    assert again.json()["error"]["code"] == "limit_reached"
    page = await fan.browser.get(f"/launches/{launch['id']}")
    assert f'data-held-claim="{claim_id}"' in page.text

    shop.clock.advance(601)
    await shop.platform.engine.expire_due()
    assert (await shop.anyone.get("/api/v1/me/claims", headers=fan.auth)).json() == []
    assert "Nothing is waiting for payment." in text_of(await fan.browser.get("/me"))


async def test_another_fans_claims_are_never_listed(shop: Shop) -> None:
    launch = await shop.launch()
    ann, bob = await shop.fan("Ann"), await shop.fan("Bob")
    assert (await shop.claim(ann, launch["id"])).status_code == 201
    assert (await shop.anyone.get("/api/v1/me/claims", headers=bob.auth)).json() == []
    assert (await shop.anyone.get("/api/v1/me/claims")).status_code == 401


# -- a refunded order ---------------------------------------------------------------------------


async def test_a_refunded_order_shows_no_ship_date(shop: Shop) -> None:
    launch = await shop.launch()
    fan = await shop.fan()
    held = await shop.claim(fan, launch["id"])
    paid = await shop.pay(fan, held.json()["id"], shipping=AMSTERDAM)
    order_id = paid.json()["id"]
    assert paid.json()["ship_date"] is not None
    before = text_of(await fan.browser.get(f"/orders/{order_id}"))
    assert "(estimated)" in before

    cancelled = await shop.anyone.post(f"/api/v1/orders/{order_id}/cancel", headers=fan.auth)
    assert cancelled.status_code == 200, cancelled.text
    html = await fan.browser.get(f"/orders/{order_id}")
    page = text_of(html)
    assert "Refunded" in page
    assert "This order will not ship." in page
    assert "(estimated)" not in page
    assert 'id="ship-date"' not in html.text  # (its history still says it was once dated)
    me = text_of(await fan.browser.get("/me"))
    assert "Refunded" in me
    assert "Ships around" not in me


# -- where to ship ---------------------------------------------------------------------------------


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


# -- the fan's data --------------------------------------------------------------------------------


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


# -- languages, time zones, cookies, sign-in links ------------------------------------------------


async def test_pages_speak_the_browsers_language_or_the_chosen_one(shop: Shop) -> None:
    launch = await shop.launch(sale_opens_at=(shop.clock.now() + timedelta(hours=2)).isoformat())
    page = await shop.anyone.get(
        f"/launches/{launch['id']}", headers={"accept-language": "nl-NL,nl;q=0.9,en;q=0.5"}
    )
    assert '<html lang="nl">' in page.text
    words = text_of(page)
    assert "Kopen" in words or "Meld je aan om te kopen" in words
    assert "€ 199,00" in words  # money in the Dutch way
    chinese = await shop.anyone.get(
        f"/launches/{launch['id']}", headers={"accept-language": "zh-CN"}
    )
    assert '<html lang="zh-Hans">' in chinese.text
    assert "规则" in text_of(chinese)
    assert page.headers["content-language"] == "nl"

    switched = await shop.anyone.get(
        "/language/zh_Hans", params={"next": f"/launches/{launch['id']}"}
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == f"/launches/{launch['id']}"
    async with shop.browser(soldout_lang="zh_Hans") as chooser:
        chosen = await chooser.get(f"/launches/{launch['id']}", headers={"accept-language": "nl"})
    assert '<html lang="zh-Hans">' in chosen.text
    evil = await shop.anyone.get("/language/nl", params={"next": "//evil.example/"})
    assert evil.headers["location"] == "/me"


async def test_times_are_shown_in_the_fans_zone_with_the_zone_named(shop: Shop) -> None:
    opens = shop.clock.now().replace(hour=12, minute=0, second=0) + timedelta(days=1)
    launch = await shop.launch(sale_opens_at=opens.isoformat())
    path = f"/launches/{launch['id']}"
    for cookie in ("Europe/Amsterdam", "Europe%2FAmsterdam"):  # (store.js once encoded it)
        async with shop.browser(soldout_tz=cookie) as amsterdam:
            assert "13:00 (Central European Time)" in text_of(await amsterdam.get(path))
    async with shop.browser(soldout_tz="Asia/Shanghai", soldout_lang="zh_Hans") as shanghai:
        assert "20:00 (中国时间)" in text_of(await shanghai.get(path))
    async with shop.browser(soldout_tz="Mars/Base") as nowhere:
        assert "12:00 (UTC)" in text_of(await nowhere.get(path))


async def test_the_fan_cookie_is_lax_and_the_admins_strict(shop: Shop) -> None:
    browser = httpx.AsyncClient(
        transport=shop.transport, base_url=ORIGIN, headers={"origin": ORIGIN}
    )
    async with browser:
        joined = await browser.post(
            "/join", data={"name": "Ann", "email": f"{uuid.uuid4().hex[:8]}@fans.test"}
        )
        fan_cookie = joined.headers["set-cookie"].lower()
        assert "samesite=lax" in fan_cookie
        assert "httponly" in fan_cookie
        admin = await browser.post("/admin/signin", data={"token": ADMIN})
        assert "samesite=strict" in admin.headers["set-cookie"].lower()
        # A cross-site form post is refused even with the cookie a Lax policy may send.
        forged = await browser.post(
            "/me/address", data=AMSTERDAM, headers={"origin": "http://evil.example"}
        )
        assert forged.status_code == 403


async def test_a_sign_in_link_is_sent_and_works_once(shop: Shop) -> None:
    fan = await shop.fan()
    asked = await shop.anyone.post(
        "/signin", data={"email": fan.email.upper(), "next": "/me"}, headers={"origin": ORIGIN}
    )
    assert asked.status_code == 200
    assert "signin-link" not in asked.text  # not demo mode: the link goes by e-mail only
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    links = [e.notification.data["url"] for e in outbox if e.notification.kind == "sign_in_link"]
    assert len(links) == 1
    assert [e.to for e in outbox if e.notification.kind == "sign_in_link"] == [fan.email]
    path = links[0].removeprefix(ORIGIN)
    async with httpx.AsyncClient(transport=shop.transport, base_url=ORIGIN) as phone:
        scanned = await phone.get(path)  # a mail scanner opening the link spends nothing
        assert scanned.status_code == 200
        assert f'action="{path}"' in scanned.text
        assert (await phone.get(path)).status_code == 200
        first = await phone.post(path)  # the fan's press on the page's button
        assert first.status_code == 303
        assert first.headers["location"] == "/me"
        assert "samesite=lax" in first.headers["set-cookie"].lower()
        assert (await phone.get("/me")).status_code == 200
        assert (await phone.post(path)).status_code == 400
        assert (await phone.get(path)).status_code == 400
        forged = await phone.post(path, headers={"origin": "http://evil.example"})
        assert forged.status_code == 403
    # asking again at once sends nothing new (one a minute, five an hour per address)
    again = await shop.anyone.post("/signin", data={"email": fan.email}, headers={"origin": ORIGIN})
    assert again.status_code == 200
    assert "a sign-in link is on its way" in text_of(again)  # the same words either way
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    assert sum(e.notification.kind == "sign_in_link" for e in outbox) == 1
    shop.clock.advance(61)
    await shop.anyone.post("/signin", data={"email": fan.email}, headers={"origin": ORIGIN})
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    assert sum(e.notification.kind == "sign_in_link" for e in outbox) == 2
    unknown = await shop.anyone.post(
        "/signin", data={"email": "nobody@fans.test"}, headers={"origin": ORIGIN}
    )
    assert unknown.status_code == 200
    assert text_of(unknown).count("a sign-in link is on its way") == 1


async def test_asking_for_a_fans_links_on_purpose_does_not_lock_the_fan_out(shop: Shop) -> None:
    fan = await shop.fan()

    def links() -> int:
        return sum(e.notification.kind == "sign_in_link" for e in outbox)

    async def ask_from(network: str) -> None:
        transport = httpx.ASGITransport(app=shop.transport.app, client=(network, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as asker:
            asked = await asker.post(
                "/signin", data={"email": fan.email}, headers={"origin": ORIGIN}
            )
            assert asked.status_code == 200
            assert "a sign-in link is on its way" in text_of(asked)

    for _ in range(8):  # someone else, once a minute: five links in the hour, then none
        await ask_from("198.51.100.7")
        shop.clock.advance(61)
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 50)
    assert links() == 5
    await ask_from("203.0.113.20")  # the fan, at home, in the same hour: still sent
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 50)
    assert links() == 6
    for n in range(3):  # one IPv6 host's /64 is one asker, whichever address it uses
        await ask_from(f"2001:db8:1:2::{n + 1}")
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 50)
    assert links() == 7
    for n in range(30):  # from many networks at once: twenty an hour to one address at most
        await ask_from(f"192.0.2.{n + 1}")
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 50)
    assert links() == 20


# -- a launch page fans want to share -------------------------------------------------------


async def test_a_launch_page_shows_its_pictures_story_and_a_share_preview(shop: Shop) -> None:
    for picture in (phone_front(), phone_back()):
        added = await shop.api.post(
            f"/api/v1/products/{shop.product_id}/images",
            files={"image": ("phone.png", picture, "image/png")},
        )
        assert added.status_code == 201, added.text
    story = "## Made with fans\n\nRead <script>alert(1)</script> **this**."
    changed = await shop.api.patch(
        f"/api/v1/products/{shop.product_id}",
        json={"description": story, "specs": [{"label": "Weight", "value": "178 g"}]},
    )
    assert changed.status_code == 200, changed.text
    launch = await shop.launch()
    fan = await shop.fan()
    page = await fan.browser.get(f"/launches/{launch['id']}")
    html = page.text
    image = changed.json()["images"][0]["id"]
    assert f'<meta property="og:image" content="{ORIGIN}/media/{image}-og">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert f'<meta property="og:url" content="{ORIGIN}/launches/{launch["id"]}">' in html
    assert '<meta property="og:title" content="Model One: first round">' in html
    assert re.search(r'<img id="hero-image" src="/media/img_\w+-960" srcset="[^"]+ 480w', html)
    assert html.count('class="thumb-button"') == 2
    assert "<h2>Made with fans</h2>" in html
    assert "<script>alert(1)</script>" not in html
    assert "<strong>this</strong>" in html
    assert "Weight 178 g" in text_of(page)
    # The share link is the fan's own referral link to this launch.
    me = await shop.platform.store.fans.get(fan.id)
    assert me is not None
    share = f"{ORIGIN}/join?ref={me.referral_code}&amp;next=/launches/{launch['id']}"
    assert f'data-url="{share}"' in html
    og = await shop.anyone.get(f"/media/{image}-og")
    assert (og.status_code, og.headers["content-type"]) == (200, "image/jpeg")
    assert "immutable" in og.headers["cache-control"]


async def test_a_forged_host_never_reaches_a_sign_in_link(shop: Shop) -> None:
    """Anyone can ask for a fan's link with any Host header; the link is built from the
    shop's own address, so it can only ever lead back to the shop."""
    fan = await shop.fan()
    asked = await shop.anyone.post(
        "/signin", data={"email": fan.email}, headers={"host": "evil.example"}
    )
    assert asked.status_code == 200
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    (note,) = [e.notification for e in outbox if e.notification.kind == "sign_in_link"]
    assert note.data["url"].startswith(f"{ORIGIN}/signin/")
    assert note.data["path"].startswith("/signin/")


async def test_releasing_a_claim_whose_payment_is_being_confirmed_shows_that_payment(
    shop: Shop,
) -> None:
    """The release answered `"payment": null` while the bank was still confirming; the
    payment then turned up refunded. The answer now names it."""
    launch = await shop.launch()
    fan = await shop.fan()
    await shop.anyone.put("/api/v1/me/shipping", json=AMSTERDAM, headers=fan.auth)
    claim_id = (await shop.claim(fan, launch["id"])).json()["id"]
    pending = await shop.pay(fan, claim_id, token="tok_delayed")
    assert pending.status_code == 202, pending.text
    released = await shop.anyone.delete(f"/api/v1/claims/{claim_id}", headers=fan.auth)
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "cancelled"
    assert released.json()["payment"]["id"] == pending.json()["payment"]["id"]


async def test_the_account_page_says_why_a_payment_was_given_back(shop: Shop) -> None:
    fan = await shop.fan()
    now = shop.platform.clock.now()
    notes = [
        Notification(new_id("ntf"), fan.id, "payment_refunded", "-", now, {"why": why})
        for why in ("given_up", "unrecorded", "late")
    ]
    async with shop.platform.store.transaction() as tx:
        tx.notifications.add_many(notes)
    text = " ".join(text_of(await fan.browser.get("/me")).split())
    assert "it came after you had cancelled it or started another" in text
    assert "the order could not be recorded" in text
    assert text.count("the unit was no longer held when the money arrived") == 1


async def test_a_fan_can_choose_the_language_their_browser_already_shows(shop: Shop) -> None:
    """Chosen on another device, Chinese was the fan's e-mails' language; a Dutch browser
    showed Dutch with no way to choose it (the current language was not a link), so the
    e-mails stayed Chinese. It is a link, marked current, and choosing it is kept."""
    launch = await shop.launch()
    fan = await shop.fan("Anouk")
    chosen = await fan.browser.get("/language/zh_Hans", params={"next": "/me"})
    assert chosen.status_code == 303
    record = await shop.platform.store.fans.get(fan.id)
    assert record is not None
    assert record.locale == "zh_Hans"
    fan.browser.cookies.delete("soldout_lang")  # another device: a Dutch browser
    page = await fan.browser.get(f"/launches/{launch['id']}", headers={"accept-language": "nl"})
    assert '<html lang="nl">' in page.text
    assert re.search(r'<a href="/language/nl\?next=[^"]*"[^>]*aria-current="true"', page.text)
    again = await fan.browser.get("/language/nl", params={"next": f"/launches/{launch['id']}"})
    assert again.status_code == 303
    record = await shop.platform.store.fans.get(fan.id)
    assert record is not None
    assert record.locale == "nl"
