"""A draw and reservations in a real browser (Debian's Chromium driven by Playwright, as
test_fan_journeys.py): a draw's winner pays and the other entrant learns their place; an
open draw page follows a unit given back without a reload; a reservation counts for the
model the fan picked."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.browser.shots import PHONE, shoot
from tests.browser.test_fan_journeys import (
    _join,
    _pay_with_address,
)
from tests.support import ServerProcess, create_launch, eventually, iso, now


def test_a_draw_winner_pays_and_the_other_entrant_learns_their_place(
    browser: Any, store_server: ServerProcess
) -> None:
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 1}, opens_in=600, mode="draw")
    lid = launch["id"]
    people = []
    try:
        for name in ("Ann Fan", "Bob Fan"):
            context = browser.new_context(viewport=PHONE, locale="en-GB")
            page = context.new_page()
            _join(page, store_server, name)
            page.goto(f"{store_server.base_url}/launches/{lid}")
            page.locator("#reserve", has_text="Enter the draw").click()
            page.get_by_text("You are in the draw.").wait_for()
            people.append((context, page))
        with store_server.admin() as admin:  # both are in: the maker opens the draw now
            opens = iso(now() + timedelta(seconds=1))
            moved = admin.patch(f"/api/v1/launches/{lid}", json={"sale_opens_at": opens})
            assert moved.status_code == 200, moved.text
        # At the opening the page reloads itself and shows each fan's result.
        for _, page in people:
            page.locator("#you .banner").first.wait_for(timeout=30_000)
        won = [p for _, p in people if p.get_by_text("You won: one SKU A is yours").count()]
        lost = [p for _, p in people if p not in won]
        assert (len(won), len(lost)) == (1, 1)
        assert (
            "You are number 1 on the backup list for SKU A" in lost[0].locator("#you").inner_text()
        )
        winner = won[0]
        shoot(winner, "store-draw-won")
        winner.locator("#pay-link").click()
        winner.wait_for_url(re.compile(r"/claims/"))
        assert winner.get_by_role("heading", name="You won: SKU A").is_visible()
        _pay_with_address(winner)
        winner.locator("#order-link").click()
        winner.wait_for_url(re.compile(r"/orders/"))
        assert "(estimated)" in winner.locator("#ship-date").inner_text() or "Not planned" in (
            winner.locator("#ship-date").inner_text()
        )
        assert "Keizersgracht 1" in winner.locator("#ships-to").inner_text()
    finally:
        for context, _ in people:
            context.close()


def test_an_open_draw_page_follows_a_unit_given_back_without_a_reload(
    browser: Any, store_server: ServerProcess
) -> None:
    """The page's block of where the fan stands was drawn once: a winner who gave the unit
    back in another tab still read "You won… Pay now" until they reloaded. As the page
    polls it now says what a reload would: the winner's block empties, the backup's says
    the unit is theirs, and once they pay and cancel, when they come back to the tab, that
    it was refunded. A sold-out
    draw offers "Buy with a priority code" only while a unit is set aside for a code."""
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 1}, opens_in=600, mode="draw")
    lid = launch["id"]
    url = f"{store_server.base_url}/launches/{lid}"
    people = []
    try:
        for name in ("Ann Fan", "Bob Fan"):
            context = browser.new_context(viewport=PHONE, locale="en-GB")
            page = context.new_page()
            _join(page, store_server, name)
            page.goto(url)
            page.locator("#reserve", has_text="Enter the draw").click()
            page.get_by_text("You are in the draw.").wait_for()
            people.append((context, page))
        with store_server.admin() as admin:
            opens = iso(now() + timedelta(seconds=1))
            moved = admin.patch(f"/api/v1/launches/{lid}", json={"sale_opens_at": opens})
            assert moved.status_code == 200, moved.text
            # drawn (the page reloads itself 2-15 s later, staggered: the test above waits
            # for that; here the fans reload at once)
            eventually(lambda: admin.get(f"/api/v1/launches/{lid}").json()["drawn_at"], bool, 30)
        result = re.compile("You won: one SKU A is yours|You are number 1 on the backup list")
        for _, page in people:
            page.reload()
            page.locator("#you .banner", has_text=result).wait_for(timeout=30_000)
        (winner,) = [p for _, p in people if p.get_by_text("You won: one SKU A").count()]
        (backup,) = [p for _, p in people if p is not winner]
        # Nothing is left for anyone, and no code is set aside: nothing to press.
        winner.locator("#status", has_text="Sold out").wait_for()
        assert not winner.locator("#buy").is_visible()
        assert not winner.get_by_text("Have a priority code?").is_visible()

        # The winner gives the unit back in another tab; the open page follows.
        elsewhere = winner.context.new_page()
        elsewhere.goto(store_server.base_url + winner.locator("#pay-link").get_attribute("href"))
        # (where the unit goes is said as it is: down the list, never "back on sale")
        elsewhere.get_by_text("so the next fan on the backup list gets it").wait_for()
        elsewhere.get_by_role("button", name="Give it back").click()
        elsewhere.get_by_text("Press again to confirm. Nothing is charged.").wait_for()
        assert "back on sale" not in elsewhere.locator("main").inner_text()
        elsewhere.get_by_role("button", name="Yes, give it back").click()
        elsewhere.get_by_role("heading", name="SKU A is no longer held for you").wait_for()
        winner.get_by_text("You won: one SKU A").wait_for(state="hidden", timeout=20_000)
        assert not winner.locator("#pay-link").count()
        # and the backup's open page says the unit is theirs now
        backup.get_by_text("You won: one SKU A is yours").wait_for(timeout=20_000)
        assert backup.locator("#pay-link").is_visible()
        for page in (winner, backup):  # as a reload shows it
            shown = page.locator("#you").inner_text()
            page.reload()
            assert page.locator("#you").inner_text() == shown

        # The backup pays elsewhere, then cancels the order: their page says so.
        paying = backup.context.new_page()
        paying.goto(store_server.base_url + backup.locator("#pay-link").get_attribute("href"))
        _pay_with_address(paying)
        backup.get_by_text("You ordered SKU A").wait_for(timeout=20_000)
        paying.locator("#order-link").click()
        paying.get_by_role("button", name="Cancel and refund").click()
        paying.get_by_role("button", name="Yes, cancel it and refund me").click()
        paying.get_by_text("(you cancelled the order)").wait_for()
        # an order's block is not fetched at each poll (it changes over days) but when the
        # page is shown again: the fan comes back to the tab
        backup.bring_to_front()
        backup.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        backup.get_by_text("Your order of SKU A was refunded.").wait_for(timeout=20_000)
        assert not backup.get_by_text("You won").count()

        # The maker sets the unit nobody waits for aside for a code: now a code can buy.
        with store_server.admin() as admin:
            issued = admin.post(
                f"/api/v1/launches/{lid}/priority-codes", json={"sku": "A", "count": 1}
            )
            assert issued.status_code == 201, issued.text
        backup.get_by_role("button", name="Buy with a priority code").wait_for(timeout=20_000)
        assert backup.get_by_text("Have a priority code?").is_visible()
    finally:
        for context, _ in people:
            context.close()


def test_a_fan_who_reserves_a_model_is_counted_for_it(
    browser: Any, store_server: ServerProcess
) -> None:
    """First come, first served: the model picked before "Reserve (free)" goes with the
    reservation (it used to be sent for a draw's entry only), so the maker's demand
    counts it and the fan's account names it."""
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5, "B": 5}, opens_in=600)
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, store_server)
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#sku-2").check()  # SKU B
        page.locator("#reserve", has_text="Reserve (free)").click()
        page.get_by_text("Reserved. We remind you by e-mail").wait_for()
        page.goto(store_server.base_url + "/me")
        assert "test launch · SKU B" in page.locator("#h-entries + ul").inner_text()
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        assert page.locator("input[name=sku][value=B]").is_checked()
    finally:
        context.close()
    with store_server.admin() as admin:
        demand = admin.get(f"/api/v1/products/{launch['product_id']}/demand")
    assert demand.status_code == 200, demand.text
    assert demand.json()["waiting"] == {"B": 1}


def test_an_any_model_code_in_a_draw_is_not_called_a_code_for_another_model(
    browser: Any, store_server: ServerProcess
) -> None:
    """A code for any model buys, in a draw, only the unit set aside for it (the others are
    the draw's): the page said it "is for another model", as if the maker had issued it for
    that one."""
    with store_server.admin() as admin:
        lid = create_launch(admin, batch={"A": 1, "B": 2}, opens_in=1, mode="draw")["id"]
        issued = admin.post(f"/api/v1/launches/{lid}/priority-codes", json={"count": 1})
        assert issued.status_code == 201, issued.text
        (code,) = issued.json()["codes"]  # for any model; its unit set aside from B
        assert (code["sku"], code["unit_sku"]) == (None, "B")
        drawn = f"/api/v1/launches/{lid}"
        eventually(lambda: admin.get(drawn).json()["drawn_at"], bool, timeout=10)
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, store_server)
        page.goto(f"{store_server.base_url}/launches/{lid}")
        page.locator("#sku-1").check()  # SKU A
        page.get_by_text("Have a priority code?").click()
        page.locator("#priority-code").fill(code["code"])
        page.locator("#buy").click()
        said = "In this draw, your priority code buys only the unit set aside for it: SKU B."
        page.get_by_text(said).wait_for()
        assert not page.get_by_text("for another model").count()
        page.locator("#sku-2").check()
        page.locator("#buy").click()
        page.get_by_text("You got one!").wait_for()
    finally:
        context.close()
