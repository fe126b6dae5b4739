"""A drawn launch's units that no backup is left to take, over HTTP in-process (httpx over
ASGI, a fake clock, the in-memory store): nobody may claim them (409 `draw_only`), so the
storefront page and the public launch view never show them as left; the maker still sees
each one unsold, and is told why no fan can have it.

They came from a winner who let the unit go once every backup was served, from a refund
before shipping, or from a draw with fewer entrants than units. They were shown as
"1 left" while every claim was refused. A priority code buys only the unit set aside for
it (an any-SKU code took such a unit of another SKU), and the page offers a code only while
one is set aside."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from soldout.api.app import build_app
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from tests.integration.test_fan_journeys import (
    ADMIN,
    AMSTERDAM,
    ORIGIN,
    Fan,
    Shop,
    enter_draw,
    shop,
    text_of,
)

__all__ = ["shop"]  # (the fixture, used by name)


# -- helpers ---------------------------------------------------------------------------


async def drawn_launch(shop: Shop, batch: dict[str, int], entrants: int) -> tuple[str, list[Fan]]:
    """A draw launch with `entrants` fans entered for A, drawn at its opening."""
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch=batch, sale_opens_at=opens.isoformat())
    fans = [await shop.fan(f"Fan{i}") for i in range(entrants)]
    await enter_draw(fans, launch["id"])
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()  # the sweeper's wake-up at the opening draws
    await shop.platform.engine.background.drain()
    return launch["id"], fans


async def let_go(shop: Shop, fan: Fan) -> None:
    """The fan releases the unit they hold; it goes down the backup list, if anyone waits."""
    (held,) = shop.platform.fans.held_claims(fan.id)
    released = await shop.anyone.delete(f"/api/v1/claims/{held.id}", headers=fan.auth)
    assert released.status_code == 200, released.text
    await shop.platform.engine.background.drain()


def holder(shop: Shop, fans: list[Fan]) -> Fan:
    (found,) = [f for f in fans if shop.platform.fans.held_claims(f.id)]
    return found


async def public_sku(shop: Shop, launch_id: str, code: str = "A") -> dict[str, Any]:
    view = await shop.anyone.get(f"/api/v1/launches/{launch_id}")
    assert view.status_code == 200, view.text
    (sku,) = [s for s in view.json()["skus"] if s["code"] == code]
    return {"status": view.json()["status"], **sku}


async def stats_of(shop: Shop, launch_id: str, code: str = "A") -> dict[str, int]:
    stats = await shop.api.get(f"/api/v1/launches/{launch_id}/stats")
    assert stats.status_code == 200, stats.text
    sku: dict[str, int] = stats.json()["skus"][code]
    return sku


def left_on_page(page: httpx.Response, code: str = "A") -> str:
    """What the page says beside the SKU's name: "Sold out" or "N left"."""
    found = re.search(rf'data-sku-left="{code}">([^<]*)<', page.text)
    assert found, page.text
    return found.group(1)


async def admin_page(shop: Shop, path: str) -> str:
    async with shop.browser() as browser:
        signed = await browser.post("/admin/signin", data={"token": ADMIN})
        assert signed.status_code == 303, signed.text
        page = await browser.get(path)
        assert page.status_code == 200, page.text
        return text_of(page)


# -- the storefront and the public view ------------------------------------------------


async def test_a_unit_back_once_every_backup_was_served_is_not_shown_as_left(shop: Shop) -> None:
    lid, fans = await drawn_launch(shop, {"A": 1}, entrants=2)
    winner = holder(shop, fans)
    await let_go(shop, winner)  # the one backup gets it
    backup = holder(shop, fans)
    assert backup is not winner
    await let_go(shop, backup)  # and nobody is left to pass it to

    # Nobody may buy it: not the fans who were in the draw, not a newcomer.
    newcomer = await shop.fan("Newcomer")
    for fan in (winner, backup, newcomer):
        refused = await shop.claim(fan, lid)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "draw_only"
    # So nobody is told it is there.
    sku = await public_sku(shop, lid)
    assert (sku["status"], sku["available"], sku["sold_out"]) == ("sold_out", 0, True)
    page = await newcomer.browser.get(f"/launches/{lid}")
    assert left_on_page(page) == "Sold out"
    assert " left" not in text_of(page)
    assert re.search(r'<p id="status"[^>]*>Sold out</p>', page.text), page.text
    # The maker's figures: unsold, neither held, sold nor lost; and offered to no one, so
    # the launch is sold out as the storefront says.
    assert await stats_of(shop, lid) == {
        "batch": 1,
        "available": 1,
        "open": 0,
        "unoffered": 1,
        "set_aside": 0,
        "held": 0,
        "paid": 0,
    }
    assert (await shop.api.get(f"/api/v1/launches/{lid}/stats")).json()["status"] == "sold_out"
    words = await admin_page(shop, f"/admin/launches/{lid}")
    assert "Not offered to anyone: 1 unit of A." in words
    assert "no fan can claim it in this launch" in words
    assert "carry it to a later launch" in words


async def test_a_draw_with_fewer_entrants_than_units_leaves_none_shown_for_sale(
    shop: Shop,
) -> None:
    lid, fans = await drawn_launch(shop, {"A": 3, "B": 2}, entrants=1)
    assert holder(shop, fans) is fans[0]

    for code in ("A", "B"):  # B had no entrant at all
        sku = await public_sku(shop, lid, code)
        assert (sku["available"], sku["sold_out"]) == (0, True), sku
    assert sku["status"] == "sold_out"
    page = await shop.anyone.get(f"/launches/{lid}")
    assert (left_on_page(page, "A"), left_on_page(page, "B")) == ("Sold out", "Sold out")
    for code in ("A", "B"):
        counts = await stats_of(shop, lid, code)
        assert (counts["available"], counts["open"], counts["unoffered"]) == (2, 0, 2)
    words = await admin_page(shop, f"/admin/launches/{lid}")
    assert "Not offered to anyone: 2 units of A, 2 units of B." in words
    assert "no fan can claim them in this launch" in words


async def test_a_restart_shows_the_same_none_left(shop: Shop) -> None:
    """The backup lists are rebuilt from the record at a start: who was served is there."""
    lid, fans = await drawn_launch(shop, {"A": 1}, entrants=2)
    await let_go(shop, holder(shop, fans))
    await let_go(shop, holder(shop, fans))

    reborn = Platform(
        shop.platform.store.crash_copy(),
        TokenSigner(b"j" * 32, ADMIN),
        clock=shop.clock,
        public_url=ORIGIN,
    )
    await reborn.start(sweep=False)
    try:
        transport = httpx.ASGITransport(app=build_app(reborn))
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as anyone:
            view = (await anyone.get(f"/api/v1/launches/{lid}")).json()
            page = await anyone.get(f"/launches/{lid}")
    finally:
        await reborn.stop()
    (sku,) = view["skus"]
    assert (view["status"], sku["available"], sku["sold_out"]) == ("sold_out", 0, True)
    assert left_on_page(page) == "Sold out"


async def test_a_unit_back_while_a_backup_waits_still_goes_to_them(shop: Shop) -> None:
    """The backups are served as before: a unit that comes back is theirs, one by one."""
    lid, fans = await drawn_launch(shop, {"A": 1}, entrants=3)
    served = [holder(shop, fans)]
    for _ in range(2):
        await let_go(shop, served[-1])
        served.append(holder(shop, fans))
    assert len({f.id for f in served}) == 3
    sku = await public_sku(shop, lid)
    assert (sku["held"], sku["available"], sku["sold_out"]) == (1, 0, True)
    words = await admin_page(shop, f"/admin/launches/{lid}")
    assert "Not offered to anyone" not in words


# -- a refund before shipping ----------------------------------------------------------


async def test_a_refund_with_no_backup_left_says_so_and_shows_nothing_for_sale(
    shop: Shop,
) -> None:
    lid, fans = await drawn_launch(shop, {"A": 1}, entrants=1)
    (held,) = shop.platform.fans.held_claims(fans[0].id)
    paid = await shop.pay(fans[0], held.id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order_id = paid.json()["id"]

    # Before: the maker is told where the unit would go, truly.
    words = await admin_page(shop, f"/admin/orders/{order_id}")
    assert "its unit goes back to stock, unsold: the draw's backup list has nobody left" in words
    assert "next fan on the draw's backup list" not in words
    # nor is the fan told, on their order page, that a backup or a buyer gets it
    theirs = text_of(await fans[0].browser.get(f"/orders/{order_id}"))
    assert "Until it ships you can cancel this order for a full refund." in theirs
    assert "backup list" not in theirs
    assert "back on sale" not in theirs

    refunded = await shop.api.post(
        f"/api/v1/orders/{order_id}/refund", json={"reason": "the winner asked to cancel"}
    )
    assert refunded.status_code == 200, refunded.text
    await shop.platform.engine.background.drain()
    sku = await public_sku(shop, lid)
    assert (sku["available"], sku["sold_out"], sku["sold"]) == (0, True, 0)
    assert left_on_page(await shop.anyone.get(f"/launches/{lid}")) == "Sold out"
    counts = await stats_of(shop, lid)
    assert (counts["available"], counts["open"], counts["unoffered"]) == (1, 0, 1)
    refused = await shop.claim(await shop.fan("Late"), lid)
    assert refused.json()["error"]["code"] == "draw_only"


async def test_the_admins_refund_says_where_the_unit_went_then_and_later(shop: Shop) -> None:
    """Said after the refund: the unit stayed unsold (nobody waited). It said "its unit
    went to the next fan on the draw's backup list", from the list as it is afterwards."""
    _, fans = await drawn_launch(shop, {"A": 1}, entrants=1)
    (held,) = shop.platform.fans.held_claims(fans[0].id)
    paid = await shop.pay(fans[0], held.id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order_id = paid.json()["id"]
    async with shop.browser() as browser:
        signed = await browser.post("/admin/signin", data={"token": ADMIN})
        assert signed.status_code == 303, signed.text
        form = await browser.get(f"/admin/orders/{order_id}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf
        done = await browser.post(
            f"/admin/orders/{order_id}/refund",
            data={"csrf": csrf.group(1), "reason": "asked to cancel", "confirm": "yes"},
        )
        assert done.status_code == 303, done.text
        said = text_of(await browser.get(done.headers["location"]))
        later = text_of(await browser.get(f"/admin/orders/{order_id}"))
    assert "its unit is back in stock, unsold: the draw's backup list has nobody left" in said
    assert "went to the next fan" not in said
    # later, the list as it was then is not known: said as such, never as a fact
    assert "to the next fan on the draw's backup list if one was waiting" in later


# -- priority codes ----------------------------------------------------------------------


async def issue_code(shop: Shop, launch_id: str, **body: Any) -> dict[str, Any]:
    issued = await shop.api.post(
        f"/api/v1/launches/{launch_id}/priority-codes", json={"count": 1, **body}
    )
    assert issued.status_code == 201, issued.text
    (code,) = issued.json()["codes"]
    return dict(code)


async def test_an_any_sku_code_buys_its_own_unit_never_a_drawn_one(shop: Shop) -> None:
    """A drawn launch's units go only through its draw and its backups: every claim without
    a code is refused 409 `draw_only`. An any-SKU code asked for another SKU took an open
    unit of it (here one no backup waits for) and put its own back in the pool. It is
    refused with the same error, naming the SKU the code still buys, and nothing moves."""
    lid, _ = await drawn_launch(shop, {"A": 2, "B": 3}, entrants=1)  # one A left over, all B
    code = await issue_code(shop, lid)  # for any SKU: set aside from B, the most open
    assert (code["sku"], code["any_sku"], code["unit_sku"]) == (None, True, "B")
    before = {sku: await stats_of(shop, lid, sku) for sku in ("A", "B")}
    fan = await shop.fan("Coded")

    refused = await shop.claim(fan, lid, "A", priority_code=code["code"])
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("draw_only", "sku")
    assert "this priority code buys only its own unit, of SKU 'B'" in error["message"]
    assert {sku: await stats_of(shop, lid, sku) for sku in ("A", "B")} == before
    assert (await public_sku(shop, lid, "A"))["available"] == 0  # still nobody's
    assert not shop.platform.fans.held_claims(fan.id)

    bought = await shop.claim(fan, lid, "B", priority_code=code["code"])  # its own unit
    assert bought.status_code == 201, bought.text
    assert (await stats_of(shop, lid, "B"))["set_aside"] == 0


def offered(page: httpx.Response, tag: str, marker: str) -> bool:
    """Whether the page shows the element (`<tag ... marker ...>`): present, not hidden."""
    found = re.search(rf"<{tag}\b[^>]*{marker}[^>]*>", page.text)
    return found is not None and not re.search(r"\shidden\b", found.group(0))


async def test_a_sold_out_draw_offers_a_code_only_while_a_unit_is_set_aside_for_one(
    shop: Shop,
) -> None:
    """Once drawn, nothing in the launch is for anyone but its winners and backups; a code
    buys only a unit set aside for it. With none set aside the page offered "Buy with a
    priority code" all the same, and every press was refused."""
    lid, fans = await drawn_launch(shop, {"A": 1}, entrants=1)
    await let_go(shop, fans[0])  # nobody waits for it: the launch is sold out
    newcomer = await shop.fan("Newcomer")
    page = await newcomer.browser.get(f"/launches/{lid}")
    assert re.search(r'<p id="status"[^>]*>Sold out</p>', page.text), page.text
    assert not offered(page, "button", 'id="buy"')
    assert not offered(page, "details", 'class="code"')

    code = await issue_code(shop, lid, sku="A")  # the maker sets the unit aside for a code
    page = await newcomer.browser.get(f"/launches/{lid}")
    assert offered(page, "button", 'id="buy"')
    assert offered(page, "details", 'class="code"')
    bought = await shop.claim(newcomer, lid, "A", priority_code=code["code"])
    assert bought.status_code == 201, bought.text
