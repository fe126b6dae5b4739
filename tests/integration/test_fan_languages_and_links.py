"""Languages, time zones, cookies and sign-in links, over HTTP in-process (as
test_fan_journeys.py): pages speak the browser's language or the chosen one, times in
the fan's zone, the cookies' rules, sign-in links sent once and limited, a forged Host
never reaching a link."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest

from tests.integration.test_fan_journeys import (
    ADMIN,
    AMSTERDAM,
    ORIGIN,
    Shop,
    shop,
    text_of,
)
from tests.support import join_in_process

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

__all__ = ["shop"]  # (the fixture, used by name)


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
        joined = await join_in_process(
            browser, shop.platform, {"name": "Ann", "email": f"{uuid.uuid4().hex[:8]}@fans.test"}
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
    email = await shop.registered()  # (over the API: joining mails a link of its own)
    asked = await shop.anyone.post(
        "/signin", data={"email": email.upper(), "next": "/me"}, headers={"origin": ORIGIN}
    )
    assert asked.status_code == 200
    assert "signin-link" not in asked.text  # not demo mode: the link goes by e-mail only
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    links = [e.notification.data["url"] for e in outbox if e.notification.kind == "sign_in_link"]
    assert len(links) == 1
    assert [e.to for e in outbox if e.notification.kind == "sign_in_link"] == [email]
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
    again = await shop.anyone.post("/signin", data={"email": email}, headers={"origin": ORIGIN})
    assert again.status_code == 200
    assert "a sign-in link is on its way" in text_of(again)  # the same words either way
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    assert sum(e.notification.kind == "sign_in_link" for e in outbox) == 1
    shop.clock.advance(61)
    await shop.anyone.post("/signin", data={"email": email}, headers={"origin": ORIGIN})
    outbox = await shop.platform.store.notifications.due_emails(shop.clock.now(), 10)
    assert sum(e.notification.kind == "sign_in_link" for e in outbox) == 2
    unknown = await shop.anyone.post(
        "/signin", data={"email": "nobody@fans.test"}, headers={"origin": ORIGIN}
    )
    assert unknown.status_code == 200
    assert text_of(unknown).count("a sign-in link is on its way") == 1


async def test_asking_for_a_fans_links_on_purpose_does_not_lock_the_fan_out(shop: Shop) -> None:
    email = await shop.registered()  # (over the API: joining mails a link of its own)

    def links() -> int:
        return sum(e.notification.kind == "sign_in_link" for e in outbox)

    async def ask_from(network: str) -> None:
        transport = httpx.ASGITransport(app=shop.transport.app, client=(network, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as asker:
            asked = await asker.post("/signin", data={"email": email}, headers={"origin": ORIGIN})
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
