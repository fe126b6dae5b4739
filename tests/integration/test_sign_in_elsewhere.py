"""A fan who signs in by a mailed link in another browser keeps the language and time
zone of their e-mails: only a language chosen with the switcher, or a zone taken on
/me, moves them. The page with the link's button says, before it is pressed, when the
sign-in will sign out the fan's other browsers."""

from __future__ import annotations

import httpx

from tests.integration.test_fan_journeys import ORIGIN, Fan, Shop, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)

SIGNS_OUT = "every other browser and app signed in to your account is signed out"


async def mailed_link(shop: Shop, fan: Fan) -> str:
    """The path of a fresh sign-in link for `fan`, as the e-mail gives it."""
    shop.clock.advance(61)  # (one link a minute per address and network)
    asked = await shop.anyone.post("/signin", data={"email": fan.email}, headers={"origin": ORIGIN})
    assert asked.status_code == 200
    notes = await shop.platform.store.notifications.for_fan(fan.id, 50)
    newest = max((n for n in notes if n.kind == "sign_in_link"), key=lambda n: n.created_at)
    return str(newest.data["path"])


async def record(shop: Shop, fan: Fan) -> tuple[str | None, str | None]:
    kept = await shop.platform.store.fans.get(fan.id)
    assert kept is not None
    return kept.locale, kept.time_zone


def london_browser(shop: Shop, **cookies: str) -> httpx.AsyncClient:
    browser = shop.browser(soldout_tz="Europe/London", **cookies)
    browser.headers["accept-language"] = "en-GB,en;q=0.9"
    return browser


async def test_a_link_used_in_another_browser_keeps_the_fans_language_and_zone(
    shop: Shop,
) -> None:
    ann = await shop.fan("Ann", **{"accept-language": "nl-NL,nl;q=0.9"})
    ann.browser.cookies.set("soldout_tz", "Europe/Amsterdam")
    assert (await ann.browser.get("/me")).status_code == 200  # the zone she joined without
    assert await record(shop, ann) == ("nl", "Europe/Amsterdam")

    async with london_browser(shop) as laptop:
        path = await mailed_link(shop, ann)
        assert (await laptop.post(path)).status_code == 303
        assert await record(shop, ann) == ("nl", "Europe/Amsterdam")
        me = await laptop.get("/me")
        assert await record(shop, ann) == ("nl", "Europe/Amsterdam")
        assert "Your e-mails give times in Europe/Amsterdam." in text_of(me)
        # she moves them herself, if she wants to
        assert "Use this device's time zone: Europe/London" in text_of(me)
        forged = await laptop.post("/me/time-zone", headers={"origin": "http://evil.example"})
        assert forged.status_code == 403  # another site's form moves nothing
        assert await record(shop, ann) == ("nl", "Europe/Amsterdam")
        moved = await laptop.post("/me/time-zone", headers={"origin": ORIGIN})
        assert moved.status_code == 303
        assert await record(shop, ann) == ("nl", "Europe/London")
        assert "Use this device's time zone" not in text_of(await laptop.get("/me"))

    async with london_browser(shop, soldout_lang="en") as chosen:  # the switcher's choice
        assert (await chosen.post(await mailed_link(shop, ann))).status_code == 303
        assert await record(shop, ann) == ("en", "Europe/London")


async def test_the_first_links_page_says_it_signs_out_the_other_browsers(shop: Shop) -> None:
    """A fan who joined over the API (an app holds their token; joining on the storefront
    signs in by the link itself) is signed out there by their first link."""
    email = await shop.registered("Ann")
    found = await shop.platform.store.fans.by_email(email)
    assert found is not None
    ann = Fan(found.id, shop.platform.tokens.fan_token(found.id), email, shop.anyone)
    assert (await shop.anyone.get("/api/v1/me", headers=ann.auth)).status_code == 200
    path = await mailed_link(shop, ann)
    async with london_browser(shop) as laptop:
        page = await laptop.get(path)
        assert SIGNS_OUT in text_of(page)
        assert (await laptop.post(path)).status_code == 303
        assert (await shop.anyone.get("/api/v1/me", headers=ann.auth)).status_code == 401
        later = await mailed_link(shop, ann)  # the address is proven: a link ends nothing
        assert SIGNS_OUT not in text_of(await laptop.get(later))
