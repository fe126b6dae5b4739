"""A rehearsal run against a store that sells for real, seen in a real browser (Debian's
Chromium, driven by Playwright): the storefront shows only the real launch, the
rehearsal's launch page is not there for fans, the admin lists the rehearsal apart and
removes it with one button; the real launch and the export read as before. Also the
maker's side of drafts and of the fair race. Screenshots: docs/screenshots/admin-*.png."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.test_admin import DESKTOP, PHONE, SHOTS
from tests.support import ADMIN_TOKEN, ServerProcess, create_launch, register

SCENARIO = """
name = "browser"

[launch]
title = "Rehearsal: first batch"
race = "fast"
opens_in_seconds = 1.0
payment_window_seconds = 30

[[launch.skus]]
code = "A"
price = 12900
batch = 10

[crowd]
fans = 25
arrival = { mean_seconds = 0.2, sd_seconds = 0.2 }
reaction = { mean_seconds = 0.1, sd_seconds = 0.05 }
pay_delay = { mean_seconds = 0.2, sd_seconds = 0.1 }
patience_seconds = 4

[run]
max_seconds = 30
max_requests = 3000
"""


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)


def sign_in(page: Page) -> None:
    page.goto("/admin/launches")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Launches", level=1)).to_be_visible()


def test_a_rehearsal_beside_a_real_sale_in_the_browser(
    browser: Browser, store_server: ServerProcess, tmp_path: Path
) -> None:
    with store_server.admin() as admin, store_server.client() as anyone:
        real = create_launch(admin, batch={"A": 5})
        admin.patch(f"/api/v1/launches/{real['id']}", json={"title": "Model One: real batch"})
        fan = register(anyone)
        auth = {"authorization": f"Bearer {fan['token']}"}
        claim = anyone.post(
            f"/api/v1/launches/{real['id']}/claims",
            json={"sku": "A"},
            headers={**auth, "idempotency-key": "real-1"},
        )
        paid = anyone.post(
            f"/api/v1/claims/{claim.json()['id']}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={**auth, "idempotency-key": "real-pay-1"},
        )
        assert paid.status_code == 200, paid.text
        export_before = admin.get("/api/v1/orders.csv").text
    scenario = tmp_path / "browser.toml"
    scenario.write_text(SCENARIO)
    # `soldout rehearse` in a process of its own, as a maker runs it (this thread runs
    # Playwright's event loop).
    ran = subprocess.run(
        [sys.executable, "-m", "soldout", "rehearse", str(scenario),
         "--target", store_server.base_url, "--admin-token", ADMIN_TOKEN,
         "--allow-real-data", "--quiet", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    run, rehearsal_launch = record["run_id"], record["launch_id"]

    context = browser.new_context(viewport=DESKTOP, base_url=store_server.base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    # The storefront: the real launch only; the rehearsal's page is not there.
    page.goto("/")
    expect(page.get_by_text("Model One: real batch").first).to_be_visible()
    expect(page.get_by_text("Rehearsal: first batch")).to_have_count(0)
    assert page.goto(f"/launches/{rehearsal_launch}").status == 404  # type: ignore[union-attr]

    # The admin: the real launch with its storefront page; the rehearsal apart.
    sign_in(page)
    real_row = page.locator(
        "tr", has=page.get_by_role("link", name="Model One: real batch", exact=True)
    )
    expect(real_row.get_by_role("link", name=re.compile("Storefront page"))).to_have_attribute(
        "href", f"/launches/{real['id']}"
    )
    section = page.locator("section", has=page.get_by_text(f"run {run}"))
    expect(section.get_by_role("link", name="Rehearsal: first batch", exact=True)).to_be_visible()
    expect(section.get_by_text("never shown to fans")).to_be_visible()
    expect(section.get_by_text("25 made-up fans")).to_be_visible()
    shoot(page, "launches-rehearsal-desktop")
    phone = browser.new_context(
        viewport=PHONE, base_url=store_server.base_url, storage_state=context.storage_state()
    )
    phone_page = phone.new_page()
    phone_page.goto("/admin/launches")
    shoot(phone_page, "launches-rehearsal-phone")
    page.get_by_role("link", name="Rehearsal: first batch", exact=True).click()
    expect(page.get_by_text(f"Made up by rehearsal run {run}")).to_be_visible()
    expect(page.get_by_role("link", name="Storefront page")).to_have_count(0)
    shoot(page, "launch-rehearsal-desktop")

    # Removed with one button (and a confirmation); the real shop reads as before.
    page.goto("/admin/launches")
    page.on("dialog", lambda dialog: dialog.accept())
    section.get_by_label("Delete everything this rehearsal made").check()
    section.get_by_role("button", name="Remove rehearsal").click()
    expect(page.get_by_role("status")).to_have_text(
        "Rehearsal removed: its launches, fans and orders are gone."
    )
    expect(page.get_by_role("heading", name="Rehearsals")).to_have_count(0)
    expect(page.get_by_role("link", name="Model One: real batch", exact=True)).to_be_visible()
    with store_server.admin() as admin:
        assert admin.get("/api/v1/orders.csv").text == export_before
        assert admin.get("/api/v1/rehearsals").json()["runs"] == []
        assert admin.get("/api/v1/reconciliation").json()["ok"] is True
    context.close()
    phone.close()


def test_a_new_launch_is_a_fair_draft_until_published(
    browser: Browser, store_server: ServerProcess
) -> None:
    with store_server.admin() as admin:
        skus = [{"code": "TEE-M", "name": "M", "price": 3500, "currency": "EUR"}]
        product = admin.post("/api/v1/products", json={"name": "Tour Tee", "skus": skus}).json()
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        context = browser.new_context(viewport=viewport, base_url=store_server.base_url)
        page = context.new_page()
        page.set_default_timeout(10_000)
        sign_in(page)
        page.goto(f"/admin/launches/new?product_id={product['id']}")
        expect(page.get_by_role("radio", name=re.compile(r"^Fair \(recommended\)"))).to_be_checked()
        expect(page.get_by_text("bots won 75 % of their tries")).to_be_visible()
        shoot(page, f"launch-new-{name}")
        page.get_by_label("Title").fill(f"Tour Tee ({name})")
        page.get_by_label("Sale opens (UTC)").fill("2030-06-01T12:00:00")
        page.get_by_label("TEE-M").fill("300")
        page.get_by_role("button", name="Create launch").click()
        expect(page.get_by_text("Draft: not visible to fans yet.")).to_be_visible()
        facts = page.locator("#fairness + dl")
        expect(facts).to_contain_text("300 at once, then 2.5/s")
        expect(facts).to_contain_text("12 bits a claim")
        expect(facts).to_contain_text("refused beyond 2 accounts")
        shoot(page, f"launch-draft-{name}")
        launch_id = page.url.split("/")[-1].split("?")[0]
        page.get_by_role("button", name="Publish now").click()
        expect(page.get_by_role("status")).to_have_text("Launch published: fans can see it.")
        page.get_by_role("link", name="Storefront page").click()
        expect(page).to_have_url(f"{store_server.base_url}/launches/{launch_id}")
        context.close()
