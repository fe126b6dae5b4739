"""The fan's journeys that used to dead-end, over HTTP in-process (httpx over ASGI, a fake
clock, the in-memory store): a held claim stays reachable after the fan leaves the page; a
refunded order shows no ship date; a launch page fans want to share. The shop and fans
here are shared by the draw's journeys (test_draw_journeys.py), the address and the fan's
data (test_fan_address_and_data.py), and languages and sign-in links
(test_fan_languages_and_links.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from tests.support import join_in_process

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

    async def registered(self, name: str = "Ann") -> str:
        """The e-mail of a fan made over the API: no sign-in link mailed yet."""
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@fans.test"
        made = await self.anyone.post("/api/v1/fans", json={"email": email, "name": name})
        assert made.status_code == 201, made.text
        return email

    async def fan(self, name: str = "Ann", **headers: str) -> Fan:
        """A fan who joined through the storefront's form, as a browser does."""
        browser = httpx.AsyncClient(
            transport=self.transport, base_url=ORIGIN, headers={"origin": ORIGIN, **headers}
        )
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@fans.test"
        form = {"name": name, "email": email, "next": "/me"}
        joined = await join_in_process(browser, self.platform, form)
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


# -- the fan's data --------------------------------------------------------------------------------


# -- languages, time zones, cookies, sign-in links ------------------------------------------------


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
