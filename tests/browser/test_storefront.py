"""The fan's journey in a real browser: join through a referral link, reserve, wait for
the opening, buy, pay, see the order with its ship date. Screenshots of the main pages
at a phone and a desktop size go to docs/screenshots/store-*.png."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from tests.browser.shots import PHONE, shoot
from tests.support import ServerProcess, claim, create_launch, dress, open_mailed_link, register


def _shoot(page: Any, name: str) -> None:
    shoot(page, f"store-{name}")


@contextlib.contextmanager
def _a_fan_on(browser: Any, server: ServerProcess, launch_id: str) -> Iterator[Any]:
    """A phone with a fan who just joined, on the launch's page: the page."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        _join(page, server)
        page.goto(f"{server.base_url}/launches/{launch_id}")
        yield page
    finally:
        context.close()


def _join(page: Any, server: ServerProcess, path: str = "/join") -> str:
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    page.goto(server.base_url + path)
    page.get_by_label("Name").fill("Ann Fan")
    page.get_by_label("E-mail").fill(email)
    page.locator("main").get_by_role("button", name="Join").click()
    open_mailed_link(page, server, email)
    page.wait_for_url(re.compile(r"/me$"))
    return email


def _csp_refusals(page: Any) -> list[str]:
    """What the page's content security policy blocked, as Chromium says it on the
    console: the policy must fit the storefront's own scripts, styles, images and worker."""
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return refused


def _fill_address(page: Any) -> None:
    """The claim page asks where to ship, the first time."""
    page.get_by_label("Street and number").fill("Keizersgracht 1")
    page.get_by_label("Postal code").fill("1015 CD")
    page.get_by_label("City").fill("Amsterdam")
    page.get_by_label("Country").select_option("NL")
    page.get_by_label("Phone (for the courier)").fill("020 123 4567")


def test_the_whole_fan_journey(browser: Any, store_server: ServerProcess) -> None:
    with store_server.client() as anyone:
        referrer = register(anyone)
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    refused = _csp_refusals(page)
    try:
        _join(page, store_server, f"/join?ref={referrer['referral_code']}")
        assert page.get_by_role("heading", name="Hello, Ann Fan").is_visible()
        # the launch opens 15 s from now: made once the fan has joined (by the mailed link)
        with store_server.admin() as admin:
            launch = create_launch(
                admin, batch={"A": 20, "B": 10}, opens_in=15, per_fan_limit=1, race="fast"
            )
            dress(admin, launch["product_id"])
            today = date.today()
            for sku in ("A", "B"):
                starts = (today + timedelta(days=2)).isoformat()
                plan = admin.put(
                    f"/api/v1/products/{launch['product_id']}/skus/{sku}/plan",
                    json={
                        "starts_on": starts,
                        "produced": 0,
                        "rates": [{"starts_on": starts, "units_per_day": 5}],
                    },
                )
                assert plan.status_code == 200, plan.text

        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#countdown", has_text=re.compile(r"^Opens in ")).wait_for(timeout=5_000)
        page.get_by_role("button", name="Reserve (free)").click()
        page.get_by_text("Reserved. We remind you by e-mail before the sale opens.").wait_for()

        # The countdown reaches zero on the server's clock; the page then fetches the state.
        page.locator("#status", has_text="On sale now").wait_for(timeout=30_000)
        page.locator("#counts tr[data-sku=A] .available", has_text="20").wait_for()
        assert not page.locator("p.when", has_text="Opens").is_visible()  # no longer true
        _shoot(page, "launch")

        page.get_by_role("button", name="Buy").click()
        page.get_by_text("You got one!").wait_for()
        page.locator("#counts tr[data-sku=A] .available", has_text="19").wait_for(timeout=10_000)
        page.locator("#claim-link").click()

        page.wait_for_url(re.compile(r"/claims/"))
        page.locator("#deadline", has_text="Time left to pay").wait_for()
        assert "€10.00" in page.locator("main").inner_text()
        _fill_address(page)
        _shoot(page, "claim")
        page.get_by_label("Card (test payments)").select_option("tok_ok")
        page.get_by_role("button", name=re.compile("^Pay ")).click()
        page.get_by_text("Paid. Thank you!").wait_for()
        page.locator("#order-link").click()

        page.wait_for_url(re.compile(r"/orders/"))
        ship = page.locator("#ship-date").inner_text()
        assert re.match(r"\w{3} \d{1,2}, \d{4} \(estimated\)", ship), ship
        assert "Keizersgracht 1" in page.locator("#ships-to").inner_text()
        _shoot(page, "order")

        page.goto(f"{store_server.base_url}/me")
        text = page.locator("main").inner_text()
        assert "Ships around" in text
        assert "/join?ref=" in page.locator("#ref-link").input_value()
        _shoot(page, "me")

        # Buying again is refused in words: one per fan.
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.get_by_role("button", name="Buy").click()
        page.get_by_text("You have reached the limit").wait_for()
        assert refused == []
    finally:
        context.close()


def test_sold_out_is_said_in_words(browser: Any, store_server: ServerProcess) -> None:
    with store_server.admin() as admin, store_server.client() as anyone:
        launch = create_launch(admin, batch={"A": 1}, race="fast")
        first = register(anyone)
        assert claim(anyone, launch["id"], first["token"]).status_code == 201

    with _a_fan_on(browser, store_server, launch["id"]) as page:
        page.locator("#status", has_text="Sold out").wait_for()
        page.get_by_role("button", name="Buy").click()  # still asks the server
        page.get_by_text("Sold out: every unit open to everyone has been sold.").wait_for()
        _shoot(page, "sold-out")


def test_a_launch_with_proof_of_work_is_bought_in_the_browser(
    browser: Any, store_server: ServerProcess
) -> None:
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5}, pow_difficulty=10, race="fast")

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    refused = _csp_refusals(page)
    try:
        _join(page, store_server)
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.get_by_role("button", name="Buy").click()
        page.get_by_text("You got one!").wait_for(timeout=20_000)
        assert "not a bot" in page.locator("#progress").inner_text()
        assert refused == []  # the puzzle's worker is allowed (worker-src 'self')
    finally:
        context.close()


def test_a_cancelled_launch_says_so_on_its_page(browser: Any, store_server: ServerProcess) -> None:
    """Open when the maker cancels it: the page, as it polls and once reloaded, says the
    launch was cancelled (not that "this round has closed") and offers nothing to buy."""
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5}, race="fast")
    with _a_fan_on(browser, store_server, launch["id"]) as page:
        page.locator("#status", has_text="On sale now").wait_for()
        with store_server.admin() as admin:
            cancelled = admin.patch(f"/api/v1/launches/{launch['id']}", json={"cancel": True})
        assert cancelled.status_code == 200, cancelled.text
        page.locator("#status", has_text="This launch was cancelled").wait_for()
        page.get_by_text("Orders already paid for still stand").wait_for()
        assert not page.get_by_role("button", name="Buy").is_visible()  # nothing to press
        page.reload()
        page.locator("#status", has_text="This launch was cancelled").wait_for()
        assert page.get_by_role("button", name="Buy").count() == 0
        assert "we remind you before the sale opens" not in page.locator("main").inner_text()
        _shoot(page, "cancelled")
