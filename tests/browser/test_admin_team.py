"""The maker's team in Chromium: the first sign-in with the admin token makes the owner
account; the owner invites a read-only member, who joins from the link with a password,
sees every page and is offered no change; the owner signs in again with a password."""

from __future__ import annotations

from playwright.sync_api import Browser, ViewportSize, expect

from tests.support import ADMIN_TOKEN, ServerProcess

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
OWNER_PASSWORD = "the owner's long password"
VIEWER_PASSWORD = "the viewer's long password"


def test_a_read_only_member_sees_but_cannot_change(
    browser: Browser, store_server: ServerProcess
) -> None:
    owner = browser.new_context(viewport=DESKTOP, base_url=store_server.base_url)
    page = owner.new_page()
    page.set_default_timeout(10_000)

    # the first sign-in: the token, then the owner account made from it
    page.goto("/admin/launches")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Launches", level=1)).to_be_visible()
    page.get_by_role("link", name="Make the owner account").click()
    page.locator("#owner-email").fill("ada@makers.test")
    page.locator("#owner-name").fill("Ada Lovelace")
    page.locator("#owner-password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Make the owner account").click()
    expect(page.get_by_role("status")).to_contain_text("Your owner account is made")
    expect(page.locator("#signed-in-as")).to_contain_text("Ada Lovelace")

    # an invite for a read-only member: a link, shown once
    page.locator("#invite-email").fill("rita@makers.test")
    page.locator("#invite-role").select_option("read_only")
    page.get_by_role("button", name="Make an invite link").click()
    link = page.get_by_label("Invite link").input_value()
    assert "/admin/invite/" in link

    # she joins from the link with a password of her own, in another browser
    viewer = browser.new_context(viewport=DESKTOP)
    other = viewer.new_page()
    other.set_default_timeout(10_000)
    other.goto(link)
    expect(other.get_by_role("heading", name="Join the team")).to_be_visible()
    other.get_by_label("Your name").fill("Rita")
    other.get_by_label("Choose a password").fill(VIEWER_PASSWORD)
    other.get_by_role("button", name="Join").click()
    expect(other.get_by_role("status")).to_have_text("Welcome to the team.")
    expect(other.locator("#signed-in-as")).to_contain_text("(Read-only): you can look")

    # she sees every page, and is offered no change (what she might post all the same is
    # refused: tests/integration/test_admin_read_only.py)
    other.get_by_role("link", name="Products").click()
    expect(other.get_by_role("heading", name="Products", level=1)).to_be_visible()
    expect(other.get_by_role("link", name="New product")).to_have_count(0)
    other.get_by_role("link", name="Team").click()
    expect(other.get_by_role("rowheader", name="Ada Lovelace")).to_be_visible()
    expect(other.get_by_role("button", name="Make an invite link")).to_have_count(0)
    expect(other.get_by_text("owners can invite members")).to_be_visible()
    other.goto(f"{store_server.base_url}/admin/products/new")
    expect(other.get_by_text("staff and owners can create a product")).to_be_visible()
    expect(other.get_by_role("button", name="Create product")).to_have_count(0)

    # the owner signs out, and in again with her e-mail and password
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("E-mail").fill("ada@makers.test")
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Launches", level=1)).to_be_visible()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="Ada Lovelace <ada@makers.test>").first).to_be_visible()
    owner.close()
    viewer.close()
