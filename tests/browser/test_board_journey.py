"""Fans shaping the product, in a real browser (Debian's Chromium driven by Playwright): a
fan posts an idea from the launch page, others vote, the maker plans it, answers and ships
it in a release, the voters are told, fans answer a poll, and its result sizes the next
launch on the maker's form. Screenshots: docs/screenshots/board-*.png with
SOLDOUT_SCREENSHOTS=1."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import expect

from tests.browser.shots import DESKTOP, PHONE, shoot
from tests.support import ADMIN_TOKEN, ServerProcess, iso, now, open_mailed_link


def _join(browser: Any, server: ServerProcess, name: str) -> Any:
    context = browser.new_context(viewport=PHONE, locale="en-GB", base_url=server.base_url)
    page = context.new_page()
    page.goto("/join")
    page.locator("#name").fill(name)
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    page.locator("#email").fill(email)
    page.locator("main form button[type=submit]").click()
    open_mailed_link(page, server, email)
    page.wait_for_url(re.compile(r"/me$"))
    return page


def _maker(browser: Any, server: ServerProcess) -> Any:
    context = browser.new_context(viewport=DESKTOP, base_url=server.base_url)
    page = context.new_page()
    page.goto("/admin/signin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Launches")
    return page


def test_an_idea_goes_from_a_fan_to_a_release_and_a_poll_sizes_the_next_batch(
    browser: Any, store_server: ServerProcess
) -> None:
    with store_server.admin() as admin:
        skus = [
            {"code": c, "name": n, "price": 19900, "currency": "EUR", "cost": 15000}
            for c, n in (("BLK", "Black"), ("WHT", "White"))
        ]
        product = admin.post("/api/v1/products", json={"name": "Model Two", "skus": skus})
        pid = product.json()["id"]
        launch = admin.post(
            "/api/v1/launches",
            json={
                "product_id": pid,
                "title": "Model Two, batch 1",
                "sale_opens_at": iso(now()),
                "batch": {"BLK": 5, "WHT": 5},
                "race": "fast",
            },
        ).json()
    ann = _join(browser, store_server, "Ann de Vries")
    ann.goto(f"/launches/{launch['id']}")
    ann.locator("#board-link").click()
    ann.wait_for_url(re.compile(rf"/products/{pid}/ideas"))
    expect(ann.get_by_role("heading", level=1)).to_have_text("Ideas and problems")
    ann.locator("#idea-title").fill("A white model with a matte back")
    ann.locator("#idea-text").fill("The **black** one shows every fingerprint.")
    ann.locator("#idea-category").fill("Looks")
    ann.get_by_role("button", name="Post", exact=True).click()
    ann.wait_for_url(re.compile(r"/ideas/ida_"))
    idea_url = ann.url
    expect(ann.locator(".prose strong")).to_have_text("black")  # Markdown, rendered safely

    voters = [_join(browser, store_server, name) for name in ("Bob Jansen", "Cat Li")]
    for page in voters:
        page.goto(idea_url)
        page.locator("button.vote").click()
        expect(page.locator("button.vote.voted .vote-count")).to_be_visible()
    expect(voters[-1].locator(".vote-count")).to_have_text("3")
    voters[0].locator("#comment-text").fill("Yes, and a case in the same white.")
    voters[0].get_by_role("button", name="Comment").click()
    expect(voters[0].locator(".comment")).to_have_count(1)

    maker = _maker(browser, store_server)
    maker.goto(f"/admin/products/{pid}/board")
    maker.get_by_role("link", name="A white model with a matte back").click()
    maker.locator("#status").select_option("planned")
    maker.get_by_role("button", name="Move").click()
    expect(maker.locator("#idea-status")).to_have_text("planned")
    maker.locator("#answer").fill("Planned for batch 2: a white back in bead-blasted glass.")
    maker.get_by_role("button", name="Answer").click()
    ann.goto(idea_url)
    expect(ann.locator(".comment.official")).to_contain_text("bead-blasted glass")
    expect(ann.locator(".idea-status")).to_have_text("Planned")
    shoot(ann, "board-idea")

    maker.goto(f"/admin/products/{pid}/board")
    maker.locator("#release-title").fill("batch 2 changes")
    maker.locator("#release-notes").fill("What you asked for, in the next batch.")
    maker.get_by_label("A white model with a matte back").check()
    maker.get_by_role("button", name="Publish the release").click()
    expect(maker.get_by_role("status")).to_contain_text("Release published")
    maker.locator("#question").fill("Which colour for batch 2?")
    maker.locator("#options").fill("Black | BLK\nWhite | WHT")
    maker.get_by_role("button", name="Ask").click()
    expect(maker.get_by_role("status")).to_contain_text("Poll open")
    shoot(maker, "board-admin")

    for page in (ann, *voters):  # every voter is told, in the app (and by e-mail)
        page.goto("/me")
        expect(page.locator(".messages")).to_contain_text(
            "it shipped in batch 2 changes: “A white model with a matte back”"
        )
    ann.goto(idea_url)
    expect(ann.locator("#shipped")).to_contain_text("Shipped in batch 2 changes")
    ann.goto(f"/launches/{launch['id']}")
    ann.locator("#release-link").click()
    expect(ann.locator("#shipped-ideas")).to_contain_text("A white model with a matte back")

    for page, colour in zip((ann, *voters), ("White", "White", "Black"), strict=True):
        page.goto(f"/products/{pid}/ideas")
        page.locator(".poll-link").first.click()
        page.get_by_role("radio", name=colour).check()
        page.get_by_role("button", name="Answer").click()
        expect(page.locator("#results li.mine")).to_contain_text(colour)
    ann.reload()
    expect(ann.locator("#results")).to_contain_text("67 %")
    shoot(ann, "board-poll")
    ann.goto(f"/products/{pid}/ideas")
    shoot(ann, "board")

    maker.goto(f"/admin/launches/new?product_id={pid}")
    demand = maker.locator("#demand")
    expect(demand.locator("tr[data-sku=WHT]")).to_contain_text("2")
    maker.locator("#total").fill("30")
    maker.get_by_role("button", name="Put this split in the batch below").click()
    expect(maker.locator("#batch_WHT")).to_have_value("20")
    expect(maker.locator("#batch_BLK")).to_have_value("10")
    shoot(maker, "board-launch-form")
