"""The maker's journey in a real browser (Debian's Chromium, driven by Playwright):
sign in, create a product and launch, issue codes, watch the live dashboard move while a
scripted crowd buys, ship orders. Screenshots go to docs/screenshots/admin-*.png."""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.support import ADMIN_TOKEN, ServerProcess, shipping_address

# Screenshots go to docs/screenshots with SOLDOUT_SCREENSHOTS=1 (to refresh the docs);
# otherwise to a scratch directory, so a test run never changes tracked files.
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SOLDOUT_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "soldout-screenshots"
)
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


class Crowd(threading.Thread):
    """Fans registering, claiming and paying through the API, a few per second."""

    def __init__(self, base_url: str, launch_id: str, sku: str, fans: int) -> None:
        super().__init__(daemon=True)
        self.base_url, self.launch_id, self.sku, self.fans = base_url, launch_id, sku, fans
        self.paid = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            for _ in range(self.fans):
                if self.stop.wait(0.12):
                    return
                name = uuid.uuid4().hex[:10]
                body = {"email": f"{name}@crowd.test", "name": name}
                fan = client.post("/api/v1/fans", json={**body, "shipping": shipping_address()})
                auth = {"authorization": f"Bearer {fan.json()['token']}"}
                made = client.post(
                    f"/api/v1/launches/{self.launch_id}/claims",
                    json={"sku": self.sku},
                    headers={**auth, "idempotency-key": f"c-{name}"},
                )
                if made.status_code != 201:
                    continue
                paid = client.post(
                    f"/api/v1/claims/{made.json()['id']}/payment",
                    json={"method": "test", "token": "tok_ok"},
                    headers={**auth, "idempotency-key": f"p-{name}"},
                )
                self.paid += paid.status_code == 200


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)


def canvas_is_drawn(page: Page, selector: str) -> bool:
    drawn: bool = page.eval_on_selector(
        selector,
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
                  return false; }""",
    )
    return drawn


def test_admin_journey(browser: Browser, server: ServerProcess) -> None:
    context = browser.new_context(viewport=DESKTOP, base_url=server.base_url, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)

    # sign in (a page without the cookie sends us to the sign-in form first)
    page.goto("/admin/launches")
    expect(page).to_have_url(f"{server.base_url}/admin/signin?next=%2Fadmin%2Flaunches")
    page.get_by_label("Admin token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Launches", level=1)).to_be_visible()

    # a product with two SKUs, then its launch, on sale from now
    page.get_by_role("link", name="New product").first.click()
    page.get_by_label("Name", exact=True).fill("Model One")
    page.get_by_label("SKU 1 code").fill("M1-BLK")
    page.get_by_label("SKU 1 name").fill("Black")
    page.get_by_label("SKU 1 price").fill("129.00")
    page.get_by_label("SKU 1 cost").fill("51.50")
    page.get_by_label("SKU 2 code").fill("M1-WHT")
    page.get_by_label("SKU 2 name").fill("White")
    page.get_by_label("SKU 2 price").fill("139")
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("status")).to_have_text("Product created. Now schedule its launch.")
    expect(page.get_by_role("cell", name="EUR 129.00")).to_be_visible()
    opens = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    page.get_by_label("Title").fill("Model One: first batch")
    page.get_by_label("Sale opens (UTC)").fill(opens)
    page.get_by_label("M1-BLK").fill("40")
    page.get_by_label("M1-WHT").fill("10")
    # The crowd below is a script pressing Buy directly: the unguarded race, chosen knowingly.
    page.get_by_role("radio", name=re.compile(r"^Fast race, unguarded\.")).check()
    page.get_by_role("button", name="Create launch").click()
    expect(page.get_by_role("status")).to_have_text(
        "Launch created as a draft: fans cannot see it until you publish it below."
    )
    launch_id = page.url.split("/")[-1].split("?")[0]
    expect(page.get_by_text("Draft: not visible to fans yet.")).to_be_visible()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("status")).to_have_text("Launch published: fans can see it.")
    expect(page.get_by_role("link", name="Storefront page")).to_have_attribute(
        "href", f"/launches/{launch_id}"
    )

    # priority codes
    page.get_by_label("How many").fill("5")
    page.get_by_label("SKU", exact=True).select_option("M1-WHT")
    page.get_by_role("button", name="Issue codes").click()
    expect(page.get_by_role("status")).to_have_text("Priority codes issued.")
    expect(page.get_by_text("5 issued · 5 live · 0 redeemed")).to_be_visible()
    shoot(page, "launch-desktop")

    # the dashboard moves while a crowd buys
    page.get_by_role("link", name="Live dashboard").click()
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#sold")).to_have_text("0")
    expect(page.locator("#available")).to_have_text("45")
    crowd = Crowd(server.base_url, launch_id, "M1-BLK", fans=30)
    crowd.start()
    try:
        page.wait_for_function("Number(document.getElementById('sold').textContent) >= 5")
        page.wait_for_function("Number(document.getElementById('live').dataset.updates) >= 3")
        assert canvas_is_drawn(page, "#chart-units")
        assert canvas_is_drawn(page, "#chart-skus")
        expect(page.locator('#sku-table tr[data-sku="M1-WHT"] [data-k="set_aside"]')).to_have_text(
            "5"
        )
        shoot(page, "dashboard-desktop")
        phone = browser.new_context(
            viewport=PHONE,
            base_url=server.base_url,
            storage_state=context.storage_state(),
            bypass_csp=True,  # lets the test evaluate its own checks; the page keeps its CSP
        )
        phone_page = phone.new_page()
        phone_page.goto(f"/admin/launches/{launch_id}/dashboard")
        phone_page.wait_for_function("Number(document.getElementById('live').dataset.updates) >= 2")
        shoot(phone_page, "dashboard-phone")
    finally:
        crowd.join(timeout=20)
        crowd.stop.set()
    assert crowd.paid >= 5
    page.wait_for_function(
        f"Number(document.getElementById('sold').textContent) === {crowd.paid}", timeout=5000
    )

    # the launches list
    page.get_by_role("link", name="Launches").first.click()
    expect(page.get_by_role("link", name="Model One: first batch", exact=True)).to_be_visible()
    shoot(page, "launches-desktop")

    # ship the first ten orders and see them shipped
    page.get_by_role("link", name="Orders").first.click()
    page.get_by_label("Launch").select_option(launch_id)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(crowd.paid)
    page.get_by_label("Product and SKU").select_option(label="Model One · M1-BLK")
    page.get_by_label("How many").fill("10")
    page.get_by_role("button", name="Ship", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("10 orders shipped")
    page.goto(f"/admin/orders?launch_id={launch_id}&status=shipped")
    expect(page.locator("tbody tr")).to_have_count(10)
    expect(page.locator(".o-shipped")).to_have_count(10)
    page.goto(f"/admin/orders?launch_id={launch_id}")
    shoot(page, "orders-desktop")

    # refund an order not yet shipped: its unit goes back on sale; the books still match
    page.goto(f"/admin/orders?launch_id={launch_id}&status=paid")
    first = page.locator("tbody tr").first
    order_id = first.locator("th code").inner_text()
    first.get_by_role("link", name=order_id).click()  # the refund is on the order's page
    page.get_by_label("Reason").fill("asked by the fan")
    page.get_by_label("Refund EUR", exact=False).check()
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Refunded EUR")
    expect(page.get_by_role("status")).to_contain_text("its unit is back on sale")
    page.get_by_role("link", name="Reconciliation").click()
    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_role("status")).to_contain_text("Everything matches")
    page.goto(f"/admin/launches/{launch_id}")
    expect(page.get_by_role("heading", name="Margin")).to_be_visible()
    expect(page.locator("#margin + p + .scroll tbody tr").first).to_be_visible()

    # the same pages on a phone
    for name, path in (
        ("launches", "/admin/launches"),
        ("launch", f"/admin/launches/{launch_id}"),
        ("orders", f"/admin/orders?launch_id={launch_id}"),
    ):
        phone_page.goto(path)
        shoot(phone_page, f"{name}-phone")

    # the audit log names what was done
    page.goto("/admin/audit")
    for action in ("product.create", "launch.create", "codes.issue", "orders.ship", "order.refund"):
        expect(page.get_by_role("rowheader", name=action, exact=True).first).to_be_visible()
    phone.close()
    context.close()
