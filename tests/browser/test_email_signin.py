"""A fan signs in from an e-mail, in Chromium: asks for a link at /signin, the link
arrives at a real SMTP server (aiosmtpd on loopback), the browser follows it and is
signed in; the link works once. The received e-mail is also shown in the browser and
photographed at a phone and a desktop size (docs/screenshots/email-*.png with
SOLDOUT_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mailbox import Mailbox
from tests.support import ServerProcess

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SOLDOUT_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "soldout-screenshots"
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="module")
def mail_server(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("mail") / "data",
        env={
            "SOLDOUT_SMTP_URL": mailbox.url,
            "SOLDOUT_MAIL_FROM": "Model Makers <shop@makers.test>",
        },
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _shoot_mail(browser: Any, html: str, name: str) -> None:
    """The e-mail as a mail program shows it (its HTML, no network), phone and desktop."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(viewport=viewport, java_script_enabled=False)
        page = context.new_page()
        try:
            page.route("**/*", lambda route: route.abort())  # a mail program loads nothing
            page.set_content(html)
            page.screenshot(path=str(SHOTS / f"email-{name}-{size}.png"), full_page=True)
        finally:
            context.close()


def test_a_fan_signs_in_by_the_link_in_the_email(
    browser: Any, mail_server: ServerProcess, mailbox: Mailbox
) -> None:
    email = f"mia-{uuid.uuid4().hex[:8]}@fans.test"
    with mail_server.client() as anyone:
        joined = anyone.post("/api/v1/fans", json={"email": email, "name": "Mia Mail"})
        assert joined.status_code == 201, joined.text

    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        page.goto(f"{mail_server.base_url}/me")
        assert "/signin" in page.url  # signed out: /me asks who you are
        page.goto(f"{mail_server.base_url}/signin")
        page.get_by_label("E-mail").fill(email)
        page.get_by_role("button", name=re.compile("sign-in link")).click()
        page.wait_for_url(re.compile(r"/signin$"))

        [received] = mailbox.wait_for(email)
        message = received.message
        assert message["Subject"] == "Your sign-in link for soldout"
        assert message["From"] == "Model Makers <shop@makers.test>"
        link = received.link("/signin/")
        assert link.startswith(f"{mail_server.base_url}/signin/")
        text, html = received.bodies()
        assert "The link works once, until" in text
        _shoot_mail(browser, html, "signin")

        page.goto(link)  # opening the link spends nothing (mail scanners open links too)
        assert page.locator("#signs-out-others").is_visible()  # the first: said beforehand
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/me$"))
        assert page.get_by_role("heading", name="Hello, Mia Mail").is_visible()

        # once only: the same link in another browser does not sign anyone in
        other = browser.new_context(viewport=PHONE, locale="en-GB")
        try:
            second = other.new_page()
            second.goto(link)
            assert second.get_by_text("This link does not work").is_visible()
            second.goto(f"{mail_server.base_url}/me")
            assert "/signin" in second.url
        finally:
            other.close()
    finally:
        context.close()


def _letters() -> dict[str, str]:
    """A few e-mails as fans get them (HTML), made by a platform in memory, in a thread of
    its own: Playwright's sync API keeps this thread's event loop busy."""
    result: dict[str, str] = {}

    async def make() -> None:
        from datetime import UTC, datetime, timedelta

        from soldout.clock import FakeClock
        from soldout.domain.launches import LaunchRules
        from soldout.domain.money import Money
        from soldout.domain.notifications import Notification
        from soldout.domain.products import Sku
        from soldout.domain.shop import Shop
        from soldout.mail import MailSettings, MemoryTransport, sender_address
        from soldout.services import Platform
        from soldout.services.tokens import TokenSigner
        from soldout.store.memory import InMemoryStore

        clock = FakeClock(datetime(2030, 1, 15, 11, 50, tzinfo=UTC))
        relay = MemoryTransport()
        mail = MailSettings(relay, sender_address(None, "shop.test"), "https://shop.test")
        platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "a"), clock, mail=mail)
        await platform.start(sweep=False)
        await platform.store.shop.put(Shop(name="Model Makers", accent="#ffd400"))
        skus = [Sku("BLK", "Model One 64 GB black", Money(19900, "EUR"), Money(1, "EUR"))]
        product = await platform.catalog.create_product("Model One", "", skus)
        book = await platform.catalog.create_launch(
            product_id=product.id,
            title="Model One, first batch",
            sale_opens_at=clock.now() - timedelta(minutes=1),
            rules=LaunchRules(),
            batch={"BLK": 5},
        )
        fans = {}
        for locale, zone in (("nl", "Europe/Amsterdam"), ("zh_Hans", "Asia/Shanghai")):
            fan, _ = await platform.fans.register(
                f"{locale}@fans.test", "Ann Fan", locale=locale, time_zone=zone
            )
            fans[locale] = fan.id
        held = (await platform.engine.claim(fans["nl"], book.launch.id, "BLK", 1, "k")).claim
        won = Notification(
            "ntf_won",
            fans["nl"],
            "draw_won",
            "",
            clock.now(),
            {"claim_id": held.id, "launch_id": book.launch.id, "sku": "BLK", "backup": False},
        )
        await platform.store.notifications.add_many([won])
        bought = await platform.engine.claim(fans["zh_Hans"], book.launch.id, "BLK", 1, "k")
        await platform.engine.pay(fans["zh_Hans"], bought.claim.id, "test", "tok_ok", "p")
        assert platform.outbox is not None
        await platform.outbox.send_due()
        for envelope in relay.sent:
            html = envelope.parsed().get_body(("html",))
            assert html is not None
            kind = envelope.parsed()["X-Soldout-Kind"]
            result[f"{kind}-{envelope.recipient.split('@')[0]}"] = html.get_content()
        await platform.stop()

    import asyncio
    import threading

    worker = threading.Thread(target=lambda: asyncio.run(make()))
    worker.start()
    worker.join()
    return result


def test_emails_fit_a_phone_in_every_language(browser: Any) -> None:
    letters = _letters()
    assert set(letters) == {"draw_won-nl", "order_confirmed-zh_hans"}
    for name, html in letters.items():
        _shoot_mail(browser, html, name)
        context = browser.new_context(viewport=PHONE, java_script_enabled=True)
        try:
            page = context.new_page()
            page.route("**/*", lambda route: route.abort())
            page.set_content(html)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (name, width)  # no sideways scrolling
            button = page.locator("a", has_text=re.compile("betalen|订单")).first
            assert button.is_visible()
        finally:
            context.close()
