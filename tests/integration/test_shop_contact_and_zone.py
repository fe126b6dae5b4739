"""The shop's contact address and time zone, set on the admin's Shop page, in-process
(httpx over ASGI, a fake clock) with e-mail sent over SMTP to a real server on loopback
(aiosmtpd, `tests/mailbox.py`): a fan's e-mail carries the contact as its Reply-To and
in its footer, the storefront's footer links to it; the admin's pages show and read
times on the shop's wall clock, across a daylight-saving change."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.shop_time import shop_zone, wall_clock
from soldout.mail import MailSettings, sender_address
from soldout.mail.config import SmtpConfig
from soldout.mail.smtp import SmtpTransport
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.web.admin_forms import Form
from tests.mailbox import Mailbox

ADMIN = {"authorization": "Bearer adm"}
BASE = "http://shop.test"
SENDER = "Lumen <shop@lumen.test>"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
async def shop(mailbox: Mailbox) -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
    transport = SmtpTransport(SmtpConfig.from_url(mailbox.url, timeout=10))
    mail = MailSettings(transport, sender_address(SENDER, "shop.test"), BASE)
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "adm"), FakeClock(), mail=mail)
    await platform.start(sweep=False)  # the outbox is run by the test: `send_due`
    app = httpx.ASGITransport(app=build_app(platform))
    async with httpx.AsyncClient(transport=app, base_url=BASE, headers={"origin": BASE}) as client:
        yield platform, client
    await platform.stop()


async def signed_in(client: httpx.AsyncClient) -> str:
    assert (await client.post("/admin/signin", data={"token": "adm"})).status_code == 303
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', (await client.get("/admin/shop")).text)
    assert found
    return found.group(1)


async def save_shop(client: httpx.AsyncClient, csrf: str, **fields: str) -> httpx.Response:
    form = {"csrf": csrf, "name": "Lumen", "accent": "#0b57d0", **fields}
    return await client.post("/admin/shop", data=form)


async def launch(client: httpx.AsyncClient, opens: datetime, **extra: Any) -> dict[str, Any]:
    skus = [{"code": "A", "name": "A", "price": 100, "currency": "EUR"}]
    product = await client.post(
        "/api/v1/products", json={"name": "Lamp", "skus": skus}, headers=ADMIN
    )
    body = {"product_id": product.json()["id"], "title": "Lamp, first batch"}
    made = await client.post(
        "/api/v1/launches",
        json={**body, "sale_opens_at": opens.isoformat(), "batch": {"A": 5}, **extra},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


async def test_a_fans_email_and_the_storefront_give_the_shops_contact_address(
    shop: tuple[Platform, httpx.AsyncClient], mailbox: Mailbox
) -> None:
    platform, client = shop
    assert platform.outbox is not None
    csrf = await signed_in(client)
    opens = platform.clock.now() + timedelta(days=1)
    first, second = await launch(client, opens), await launch(client, opens)
    fan = await client.post("/api/v1/fans", json={"email": "ann@fans.test", "name": "Ann"})
    fan_auth = {"authorization": f"Bearer {fan.json()['token']}"}

    # no contact address: nothing changes
    await client.post(f"/api/v1/launches/{first['id']}/reservations", headers=fan_auth)
    await platform.outbox.send_due()
    [before] = mailbox.to("ann@fans.test")
    assert before.message["Reply-To"] is None
    assert "Questions?" not in (await client.get("/")).text

    refused = await save_shop(client, csrf, contact_email="hello at lumen")
    assert refused.status_code == 422
    assert "(contact_email)" in refused.text
    assert (await platform.store.shop.get()).contact_email is None
    saved = await save_shop(client, csrf, contact_email=" Hello@Lumen.test ")
    assert saved.status_code == 303, saved.text

    await client.post(f"/api/v1/launches/{second['id']}/reservations", headers=fan_auth)
    await platform.outbox.send_due()
    after = mailbox.wait_for("ann@fans.test", 2)[1]
    assert after.message["Reply-To"] == "Lumen <hello@lumen.test>"
    assert after.message["From"] == SENDER  # the sender stays the configured one
    assert after.sender == "shop@lumen.test"
    text, html = after.bodies()
    assert "Questions? Write to hello@lumen.test." in text
    assert 'Write to <a href="mailto:hello@lumen.test"' in html

    page = (await client.get("/")).text
    assert 'Questions? Write to <a href="mailto:hello@lumen.test">hello@lumen.test</a>.' in page
    # a form that leaves the address out keeps it; an empty one removes it
    assert (await save_shop(client, csrf)).status_code == 303
    assert (await platform.store.shop.get()).contact_email == "hello@lumen.test"
    assert (await save_shop(client, csrf, contact_email="")).status_code == 303
    assert "Questions?" not in (await client.get("/")).text


async def test_admin_times_are_shown_and_read_in_the_shops_zone(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    refused = await save_shop(client, csrf, time_zone="America/Gotham")
    assert refused.status_code == 422
    assert "(time_zone)" in refused.text
    assert (await save_shop(client, csrf, time_zone="America/New_York")).status_code == 303

    # 13:00 UTC on the day New York springs forward is 09:00 EDT; the day before, 08:00 EST
    made = await launch(client, datetime(2030, 3, 10, 13, 0, tzinfo=UTC))
    page = (await client.get(f"/admin/launches/{made['id']}")).text
    assert "2030-03-10 09:00:00 EDT" in page
    assert "Sale opens (America/New_York)" in page
    assert 'value="2030-03-10T09:00:00"' in page  # the form shows the same wall clock
    earlier = await launch(client, datetime(2030, 3, 9, 13, 0, tzinfo=UTC))
    assert "2030-03-09 08:00:00 EST" in (await client.get("/admin/launches")).text
    # the API keeps its times in UTC with their offset
    api = await client.get(f"/api/v1/launches/{earlier['id']}", headers=ADMIN)
    assert api.json()["sale_opens_at"] == "2030-03-09T13:00:00+00:00"

    form = {"csrf": csrf, "product_id": made["product_id"], "title": "Typed", "batch_A": "1"}
    for typed, stored in (
        ("2030-03-09T09:00", datetime(2030, 3, 9, 14, 0, tzinfo=UTC)),  # EST
        ("2030-03-10T09:00", datetime(2030, 3, 10, 13, 0, tzinfo=UTC)),  # EDT
        ("2030-11-03T01:30", datetime(2030, 11, 3, 5, 30, tzinfo=UTC)),  # twice: the first
    ):
        posted = await client.post("/admin/launches", data={**form, "sale_opens_at": typed})
        assert posted.status_code == 303, posted.text
        launch_id = posted.headers["location"].split("?")[0].rsplit("/", 1)[1]
        assert platform.engine.book(launch_id).launch.sale_opens_at == stored, typed

    gap = {**form, "sale_opens_at": "2030-03-10T02:30"}  # the hour the clocks skip
    skipped = await client.post("/admin/launches", data=gap)
    assert skipped.status_code == 400
    assert "2030-03-10 02:30 does not exist in America/New_York" in skipped.text
    assert "(sale_opens_at)" in skipped.text


def test_a_time_in_the_repeated_hour_sent_back_as_shown_stays_the_instant_it_was() -> None:
    """A launch's form shows its times on the shop's wall clock; saving it unchanged (to
    grow a batch) must not move a time in the second 01:xx of a fall-back night."""
    zone = shop_zone("America/New_York")
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the second 01:30
    shown = wall_clock(second, zone)
    form = Form({"sale_opens_at": [shown]}, "admin:x", zone)

    assert shown == "2026-11-01T01:30:00"
    assert form.moment("sale_opens_at", "Sale opens", current=second) == second
    # typed anew, the same wall clock is its first occurrence (EDT), as documented
    assert form.moment("sale_opens_at", "Sale opens") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
