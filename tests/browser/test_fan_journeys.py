"""The fan journeys that used to dead-end, in a real browser (Debian's Chromium driven by
Playwright): a draw's winner pays; a fan leaves the page and pays later from /me; a
priority code buys a set-aside unit; the launch page in Dutch and in Chinese.
Screenshots go to docs/screenshots/store-*.png with SOLDOUT_SCREENSHOTS=1."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

from tests.browser.shots import PHONE, shoot
from tests.support import ServerProcess, create_launch, dress, open_mailed_link

AMSTERDAM = {"line1": "Keizersgracht 1", "postal_code": "1015 CD", "city": "Amsterdam"}


def _join(page: Any, server: ServerProcess, name: str = "Ann Fan") -> str:
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    page.goto(server.base_url + "/join")
    page.locator("#name").fill(name)
    page.locator("#email").fill(email)
    page.locator("main form button[type=submit]").click()
    open_mailed_link(page, server, email)
    page.wait_for_url(re.compile(r"/me$"))
    return email


def _fill_address(page: Any) -> None:
    page.locator("#a-line1").fill(AMSTERDAM["line1"])
    page.locator("#a-postal").fill(AMSTERDAM["postal_code"])
    page.locator("#a-city").fill(AMSTERDAM["city"])
    page.locator("#a-country").select_option("NL")
    page.locator("#a-phone").fill("020 123 4567")


def _pay_with_address(page: Any) -> None:
    """On the claim page: where to ship (the first time), a test card, pay."""
    _fill_address(page)
    page.locator("#card").select_option("tok_ok")
    page.locator("#pay").click()
    page.locator("#order-link").wait_for()


def _buy_and_open_the_claim(page: Any, server: ServerProcess, launch_id: str) -> None:
    page.goto(f"{server.base_url}/launches/{launch_id}")
    page.locator("#buy").click()
    page.locator("#claim-link").click()
    page.wait_for_url(re.compile(r"/claims/"))


@contextlib.contextmanager
def _a_fan_at_a_sale(
    browser: Any, server: ServerProcess, batch: dict[str, int]
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A fast sale of `batch` on now, and a phone with a fan who just joined: (page, launch)."""
    with server.admin() as admin:
        launch = create_launch(admin, batch=batch, race="fast")
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, server)
        yield page, launch
    finally:
        context.close()


def _a_code_for_sku_a(server: ServerProcess, launch_id: str) -> str:
    with server.admin() as admin:
        issued = admin.post(
            f"/api/v1/launches/{launch_id}/priority-codes", json={"sku": "A", "count": 1}
        )
    assert issued.status_code == 201, issued.text
    code: str = issued.json()["codes"][0]["code"]
    return code


def test_a_fan_leaves_the_page_and_pays_later_from_their_account(
    browser: Any, store_server: ServerProcess
) -> None:
    with _a_fan_at_a_sale(browser, store_server, {"A": 5}) as (page, launch):
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#buy").click()
        page.get_by_text("You got one!").wait_for()
        page.goto(store_server.base_url + "/")  # the fan wanders off
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#buy").click()  # and presses Buy again: one per fan
        page.get_by_text("You have reached the limit").wait_for()
        page.locator("#held-link").click()  # the limit message leads to the held claim
        page.wait_for_url(re.compile(r"/claims/"))
        page.goto(store_server.base_url + "/me")
        waiting = page.locator("#waiting")
        assert "Pay by" in waiting.inner_text()
        shoot(page, "store-me-waiting")
        waiting.get_by_role("link", name="Pay").click()
        page.wait_for_url(re.compile(r"/claims/"))
        _pay_with_address(page)
        page.goto(store_server.base_url + "/me")
        assert "Nothing is waiting for payment." in page.locator("#waiting").inner_text()
        assert "ship date to follow" in page.locator("#orders").inner_text()  # (no plan yet)


def test_a_priority_code_for_another_model_says_which(
    browser: Any, store_server: ServerProcess
) -> None:
    with _a_fan_at_a_sale(browser, store_server, {"A": 2, "B": 2}) as (page, launch):
        code = _a_code_for_sku_a(store_server, launch["id"])
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#sku-2").check()  # SKU B
        page.get_by_text("Have a priority code?").click()
        page.locator("#priority-code").fill(code)
        page.locator("#buy").click()
        said = "This priority code is for another model: SKU A. Choose that one"
        page.get_by_text(said).wait_for()
        page.locator("#sku-1").check()
        page.locator("#buy").click()
        page.get_by_text("You got one!").wait_for()


def test_a_priority_code_buys_a_set_aside_unit_of_a_sold_out_launch(
    browser: Any, store_server: ServerProcess
) -> None:
    with _a_fan_at_a_sale(browser, store_server, {"A": 1}) as (page, launch):
        code = _a_code_for_sku_a(store_server, launch["id"])
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#status", has_text="Sold out").wait_for()  # the one unit is set aside
        page.locator("#buy").click()
        page.get_by_text("Sold out: every unit open to everyone").wait_for()
        page.get_by_text("Have a priority code?").click()
        page.locator("#priority-code").fill("F-NOPE-NOPE-NOPE")
        page.locator("#buy").click()
        page.get_by_text("We do not know this priority code").wait_for()
        page.locator("#priority-code").fill(code.lower())  # typed as it came, any case
        page.locator("#buy").click()
        page.get_by_text("You got one!").wait_for()
        page.locator("#counts tr[data-sku=A] .set-aside", has_text="0").wait_for(timeout=10_000)
        page.locator("#claim-link").click()
        page.wait_for_url(re.compile(r"/claims/"))
        _pay_with_address(page)


def test_the_launch_page_speaks_dutch_and_chinese(
    browser: Any, store_server: ServerProcess
) -> None:
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 20, "B": 10}, opens_in=7200, race="fast")
        dress(admin, launch["product_id"])
    url = f"{store_server.base_url}/launches/{launch['id']}"
    for locale, zone, words, shot in (
        (
            "nl-NL",
            "Europe/Amsterdam",
            ("De regels", "Opent over", "Reserveringen tot nu toe"),
            "nl",
        ),
        ("zh-CN", "Asia/Shanghai", ("规则", "后开售", "目前预约人数"), "zh"),
    ):
        context = browser.new_context(viewport=PHONE, locale=locale, timezone_id=zone)
        page = context.new_page()
        try:
            page.goto(url)
            page.locator("#countdown", has_text=words[1]).wait_for()
            # store.js writes the times in the browser's zone as the server writes them:
            # a 24-hour clock and the zone's name ("15:00 (Midden-Europese tijd)")
            shown = page.locator("time[data-when]").first.inner_text()
            assert re.search(r"\d{2}:\d{2} \([^)]+\)$", shown), shown
            assert not re.search(r"AM|PM|GMT|上午|下午", shown), shown
            text = page.locator("main").inner_text()
            for word in words:
                assert word in text, (locale, word)
            assert page.locator("html").get_attribute("lang") == locale.split("-")[0].replace(
                "zh", "zh-Hans"
            )
            shoot(page, f"store-launch-{shot}")
            # The switcher: back to English, remembered for the next page.
            page.get_by_role("link", name="English").click()
            page.get_by_role("heading", name="The rules").wait_for()
            page.goto(url)
            assert page.get_by_role("heading", name="The rules").is_visible()
            # The page came back in the browser's zone, told by store.js's cookie (it was
            # sent URL-encoded, unread, so every time showed in UTC).
            named = {"Europe/Amsterdam": "(Central European Time)", "Asia/Shanghai": "(China Time)"}
            assert named[zone] in page.locator("main").inner_text()
        finally:
            context.close()


def test_the_claim_page_says_when_the_time_to_pay_ran_out_and_when_it_is_paid(
    browser: Any, store_server: ServerProcess
) -> None:
    """Left open, the claim page turns at the deadline: the state, no form, the way back
    (it used to say "Held for you" beside a greyed-out Pay). Paid on the page, it asks
    for nothing more either."""
    with store_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5}, race="fast", payment_window_seconds=10)
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, store_server)
        _buy_and_open_the_claim(page, store_server, launch["id"])
        assert page.locator("#pay-form").is_visible()
        state = page.locator("#claim-state")
        state.filter(has_text="Expired: the time to pay ran out").wait_for(timeout=20_000)
        assert not page.locator("#pay-form").is_visible()
        assert not page.get_by_text("Estimated ship date if you pay now").is_visible()
        shoot(page, "store-claim-time-ran-out")
        assert page.get_by_role("heading", name="The time to pay for SKU A ran out").is_visible()
        assert not page.get_by_role("heading", name="Pay", exact=True).is_visible()
        page.locator("#back-to-launch").click()
        page.wait_for_url(re.compile(r"/launches/"))
        page.go_back()
        page.reload()  # and as the server makes the page now
        page.get_by_role("heading", name="The time to pay for SKU A ran out").wait_for()
        assert page.get_by_role("link", name="Back to the launch").is_visible()

        _buy_and_open_the_claim(page, store_server, launch["id"])  # back on sale: again
        _pay_with_address(page)
        assert state.inner_text() == "Paid"
        assert not page.get_by_role("heading", name="Pay", exact=True).is_visible()
        assert page.locator("main").inner_text().count("Paid") == 2  # the status, the thanks
        assert not page.locator("#pay-form").is_visible()
        assert not page.get_by_text("Estimated ship date if you pay now").is_visible()
        page.locator("#order-link").click()  # the way on is the order
        page.wait_for_url(re.compile(r"/orders/"))
    finally:
        context.close()


def test_a_fan_who_changed_their_mind_gives_the_claim_back(
    browser: Any, store_server: ServerProcess
) -> None:
    """The claim page offered only Pay: a fan who changed their mind kept the unit from
    everyone else for the whole window."""
    with _a_fan_at_a_sale(browser, store_server, {"A": 1}) as (page, launch):
        _buy_and_open_the_claim(page, store_server, launch["id"])
        give_back = page.get_by_role("button", name="Give it back")
        give_back.click()
        page.get_by_text("Press again to confirm.").wait_for()
        page.get_by_role("button", name="Yes, give it back").click()
        page.get_by_role("heading", name="SKU A is no longer held for you").wait_for()
        assert page.locator("#claim-state").inner_text() == "Cancelled"
        assert not page.get_by_role("button", name="Give it back").count()
        with store_server.client() as anyone:
            seen = anyone.get(f"/api/v1/launches/{launch['id']}").json()
        assert [s["available"] for s in seen["skus"] if s["code"] == "A"] == [1]  # for another
        # The order page's cancel takes the same two steps: bought again, paid, cancelled.
        _buy_and_open_the_claim(page, store_server, launch["id"])
        _pay_with_address(page)
        page.locator("#order-link").click()
        page.get_by_role("button", name="Cancel and refund").click()
        page.get_by_role("button", name="Yes, cancel it and refund me").click()
        page.get_by_text("(you cancelled the order)").wait_for()  # its history, reloaded


def test_a_long_name_does_not_push_the_account_page_sideways_on_a_phone(
    browser: Any, store_server: ServerProcess
) -> None:
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, store_server, "Christopher " + "Wolfeschlegelsteinhausenbergerdorff" * 2)
        page.goto(f"{store_server.base_url}/me")
        page.get_by_role("heading", name="Hello, Christopher").wait_for()
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0
    finally:
        context.close()


def test_give_it_back_is_not_offered_while_a_payment_is_being_confirmed(
    browser: Any, store_server: ServerProcess
) -> None:
    """ "Nothing is charged" would be untrue then: money on its way is refunded later."""
    with _a_fan_at_a_sale(browser, store_server, {"A": 1}) as (page, launch):
        _buy_and_open_the_claim(page, store_server, launch["id"])
        assert page.get_by_role("button", name="Give it back").is_visible()
        _fill_address(page)
        page.locator("#card").select_option("tok_delayed")
        page.locator("#pay").click()
        page.get_by_text("Your bank is confirming the payment").wait_for()
        assert not page.get_by_role("button", name="Give it back").is_visible()
        page.reload()  # the page drawn while it is still pending says the same
        assert not page.get_by_role("button", name="Give it back").is_visible()
        # (and if it shows again, no provider's page is spoken of: the test provider has none)
        assert "payment page" not in page.locator("#give-back").inner_text()


def test_a_fan_early_in_the_waiting_room_is_told_their_place_in_words(
    browser: Any, store_server: ServerProcess
) -> None:
    """Before the opening the room only expects a place: the first fan to arrive is
    "among the first", never "about 0 fans are ahead of you"."""
    with store_server.admin() as admin:
        launch = create_launch(admin, opens_in=600, waiting_room_rate=5.0)
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, store_server)
        page.goto(f"{store_server.base_url}/launches/{launch['id']}")
        page.locator("#buy").click()
        room = page.locator("#room")
        room.get_by_text("among the first in the queue").wait_for()
        assert "0 fans" not in room.inner_text()
        assert "once the sale opens" in room.inner_text()  # not "shortly": it has not opened
        assert page.locator("#result").inner_text() == ""  # the room says it, not "Asking…"
    finally:
        context.close()
