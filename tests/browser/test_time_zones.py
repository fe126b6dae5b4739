"""A fan's time zone has one name on every page: the one the server gives it (and its
e-mails), also on a visit's first page, where store.js shows the times in the browser's
zone before the server has learnt it, and in the times store.js writes itself."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.support import ServerProcess, create_launch, open_mailed_link

# (browser locale, browser zone, the shop's name of the zone, the browser's own name)
FANS = (
    ("en-US", "America/New_York", "Eastern Time", "America/New_York"),
    ("zh-CN", "Asia/Shanghai", "中国时间", "中国标准时间"),
)


def _times_and_note(page: Any) -> tuple[str, str]:
    return page.locator("time[data-when]").first.inner_text(), page.locator(
        "#zone-note"
    ).inner_text()


def _join(page: Any, server: ServerProcess) -> None:
    page.goto(server.base_url + "/join")
    page.locator("#name").fill("Ann Fan")
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    page.locator("#email").fill(email)
    page.locator("main form button[type=submit]").click()
    open_mailed_link(page, server, email)
    page.wait_for_url(re.compile(r"/me$"))


def test_the_zone_is_named_as_the_server_names_it_from_the_first_page_on(
    browser: Any, store_server: ServerProcess
) -> None:
    with store_server.admin() as admin:
        coming = create_launch(admin, batch={"A": 5}, opens_in=7200)
        on_sale = create_launch(admin, batch={"A": 5})
    for locale, zone, name, browsers_name in FANS:
        context = browser.new_context(locale=locale, timezone_id=zone)
        page = context.new_page()
        try:
            page.goto(f"{store_server.base_url}/launches/{coming['id']}")
            # the server wrote UTC; store.js rewrites the times in the fan's zone
            page.locator("#zone-note").filter(has_not_text="UTC").wait_for()
            first_page = _times_and_note(page)
            page.reload()  # the server knows the zone now (store.js's cookie)
            assert page.locator("#zone-note").get_attribute("data-zone") == zone
            assert _times_and_note(page) == first_page
            assert f"({name})" in first_page[0]
            assert name in first_page[1]

            _join(page, store_server)
            page.goto(f"{store_server.base_url}/launches/{on_sale['id']}")
            page.locator("#buy").click()
            page.locator("#claim-link").click()
            page.wait_for_url(re.compile(r"/claims/"))
            # store.js counts down the time to pay, naming the deadline's zone
            ticking = page.locator("#deadline", has_text=re.compile(r"\d{2}:\d{2}:\d{2}"))
            deadline = ticking.inner_text()
            assert re.search(rf"\d{{2}}:\d{{2}} {name}", deadline), deadline
            assert browsers_name not in deadline
        finally:
            context.close()
