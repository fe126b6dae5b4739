"""Paying through Stripe's and Mollie's own pages, in a real browser: `soldout serve` with
SOLDOUT_PAYMENTS=stripe (or mollie) and its official SDK pointed at a strict local fake of
the provider (tests/fakes), which serves the payment page and posts its webhooks back to
the server over HTTP, as the provider would. Nothing reaches the internet.

A fan pays on the provider's page and lands on their order with its ship date; a decline,
a cancel and a bank that confirms later each say what happened, with the claim still
held. Screenshots: store-pay-<provider>-*.png (docs/screenshots with SOLDOUT_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.browser.shots import PHONE, shoot
from tests.fakes.mollie_api import API_KEY as MOLLIE_KEY
from tests.fakes.mollie_api import FakeMollie
from tests.fakes.stripe_api import FakeStripe
from tests.support import (
    ADMIN_TOKEN,
    ServerProcess,
    create_launch,
    free_port,
    iso,
    now,
    open_mailed_link,
)

STRIPE_KEY = "sk_test_soldout_browser_fake_key_0123456789"
STRIPE_SECRET = "whsec_soldout_browser_fake_signing_secret"


@dataclass
class Shop:
    provider: str
    server: ServerProcess
    fake: Any


@pytest.fixture(scope="module", params=["stripe", "mollie"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/api/v1/payments/webhooks/{request.param}"
    env = {"SOLDOUT_RATE_LIMIT_FAN": "0", "SOLDOUT_PAYMENTS": request.param}
    fake: Any
    if request.param == "stripe":
        fake = FakeStripe(STRIPE_KEY, STRIPE_SECRET).start()
        fake.webhook_url = webhook
        env |= {
            "SOLDOUT_STRIPE_SECRET_KEY": STRIPE_KEY,
            "SOLDOUT_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
            "SOLDOUT_STRIPE_API_BASE": fake.url,
        }
    else:
        fake = FakeMollie()
        fake.start()
        env |= {"SOLDOUT_MOLLIE_API_KEY": MOLLIE_KEY, "SOLDOUT_MOLLIE_API_BASE": fake.url}
    server = ServerProcess(tmp_path_factory.mktemp(request.param) / "data", port, env)
    server.start()
    try:
        yield Shop(request.param, server, fake)
    finally:
        server.stop()
        fake.stop()


def _join(page: Any, server: ServerProcess, name: str) -> None:
    page.goto(server.base_url + "/join")
    page.locator("#name").fill(name)
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    page.locator("#email").fill(email)
    page.locator("main form button[type=submit]").click()
    open_mailed_link(page, server, email)
    page.wait_for_url(re.compile(r"/me$"))


def _buy(browser: Any, shop: Shop) -> tuple[Any, Any]:
    """A new fan who got one unit and stands on its claim page, address given."""
    base = shop.server.base_url
    with shop.server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5})
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    _join(page, shop.server, "Ann Fan")
    page.goto(f"{base}/launches/{launch['id']}")
    page.locator("#buy").click()
    page.get_by_text("You got one!").wait_for()
    page.goto(base + "/me")
    page.locator("#waiting").get_by_role("link", name="Pay").click()
    page.wait_for_url(re.compile(r"/claims/[^/]+$"))
    page.locator("#a-line1").fill("Keizersgracht 1")
    page.locator("#a-postal").fill("1015 CD")
    page.locator("#a-city").fill("Amsterdam")
    page.locator("#a-country").select_option("NL")
    page.locator("#a-phone").fill("020 123 4567")
    return context, page


def _to_the_providers_page(page: Any, shop: Shop, method: str | None = None) -> None:
    if method is not None:
        page.locator(f"input[name=method][value={method}]").check()
    page.locator("#pay").click()
    page.wait_for_url(re.compile(re.escape(shop.fake.url)))


def _choose(page: Any, shop: Shop, what: str) -> None:
    """On the provider's page: pay, or have the bank refuse, or say nothing yet."""
    if shop.provider == "stripe":
        page.locator("button[name=use]", has_text={"pay": "Pay", "fail": "Decline"}[what]).click()
    else:
        status = {"pay": "paid", "fail": "failed", "later": "open"}[what]
        page.locator(f"button[name=status][value={status}]").click()


def test_a_fan_pays_on_the_providers_page_and_lands_on_the_order(browser: Any, shop: Shop) -> None:
    context, page = _buy(browser, shop)
    try:
        assert "secure page" in page.locator("#provider-note").inner_text()
        shoot(page, f"store-pay-{shop.provider}-claim")
        _to_the_providers_page(page, shop, "ideal" if shop.provider == "mollie" else None)
        assert "€10.00" in page.content()  # the claim's amount, in the claim's currency
        shoot(page, f"store-pay-{shop.provider}-page")
        _choose(page, shop, "pay")
        page.wait_for_url(re.compile(r"/orders/[^/?]+\?paid=1$"))
        assert page.locator("#paid-note").inner_text() == "Paid. Thank you!"
        ship_date = page.locator("#ship-date").inner_text()
        assert "(estimated)" in ship_date or "Not planned" in ship_date
        assert "Keizersgracht 1" in page.locator("#ships-to").inner_text()
        shoot(page, f"store-pay-{shop.provider}-paid")
    finally:
        context.close()


def test_a_decline_says_so_and_the_fan_pays_again(browser: Any, shop: Shop) -> None:
    context, page = _buy(browser, shop)
    try:
        _to_the_providers_page(page, shop)
        _choose(page, shop, "fail")
        if shop.provider == "stripe":
            # Stripe's page says so and stays open; the fan goes back to the shop.
            page.get_by_text("Your card was declined").wait_for()
            page.get_by_role("link", name=re.compile("back", re.I)).click()
        page.wait_for_url(re.compile(r"/claims/[^/]+\?payment="))
        said = page.locator("#attempt").inner_text()
        assert "did not go through" in said  # a decline, not "you cancelled"
        assert "Nothing was charged" in said
        assert "still held for you" in said
        shoot(page, f"store-pay-{shop.provider}-declined")
        _to_the_providers_page(page, shop)  # and tries again
        _choose(page, shop, "pay")
        page.wait_for_url(re.compile(r"/orders/"))
    finally:
        context.close()


def test_a_fan_who_cancels_on_the_page_is_told_the_unit_is_still_held(
    browser: Any, shop: Shop
) -> None:
    context, page = _buy(browser, shop)
    try:
        _to_the_providers_page(page, shop)
        if shop.provider == "stripe":
            page.get_by_role("link", name=re.compile("back", re.I)).click()
        else:
            page.locator("button[name=status][value=canceled]").click()
        page.wait_for_url(re.compile(r"/claims/[^/]+\?payment="))
        said = page.locator("#attempt").inner_text()
        assert "You cancelled the payment. Nothing was charged." in said
        assert page.locator("#pay").is_enabled()
    finally:
        context.close()


def test_a_link_made_elsewhere_cannot_close_a_fans_payment_page(browser: Any, shop: Shop) -> None:
    """Only the provider's page, which soldout gave its address (sealed), can say the fan
    cancelled: the same address made up by another site closes nothing, and the fan still
    pays on the page they left open."""
    context, page = _buy(browser, shop)
    try:
        claim_url = page.url
        _to_the_providers_page(page, shop)
        providers_page = page.url
        seen = page.request.get(
            claim_url.replace("/claims/", "/api/v1/claims/"), headers={"x-soldout-web": "1"}
        ).json()
        claim_id, payment_id = seen["id"], seen["payment"]["id"]
        forged = f"{shop.server.base_url}/claims/{claim_id}/back?payment={payment_id}&cancelled=1"
        page.goto(forged)  # as a link on another site would take the signed-in fan
        page.wait_for_url(re.compile(r"/claims/[^/]+\?payment="))
        assert "You cancelled" not in page.locator("main").inner_text()
        page.goto(providers_page)
        _choose(page, shop, "pay")
        page.wait_for_url(re.compile(r"/orders/"))
    finally:
        context.close()


@pytest.mark.parametrize("shop", ["mollie"], indirect=True)  # (Stripe's page waits itself)
def test_a_bank_that_confirms_later_updates_the_page_by_itself(browser: Any, shop: Shop) -> None:
    context, page = _buy(browser, shop)
    try:
        _to_the_providers_page(page, shop, "ideal")
        _choose(page, shop, "later")
        page.wait_for_url(re.compile(r"/claims/[^/]+\?payment="))
        assert "confirming the payment" in page.locator("#attempt").inner_text()
        payment_id = page.url.rsplit("payment=", 1)[1]
        [payment] = [
            p for p in shop.fake.payments() if p["metadata"]["soldout_payment"] == payment_id
        ]
        shop.fake.set_status(payment["id"], "paid")  # the bank says yes; Mollie calls back
        page.locator("#order-link").wait_for(timeout=15_000)
    finally:
        context.close()


def test_a_fan_who_left_the_payment_page_open_can_still_give_the_unit_back(
    browser: Any, shop: Shop
) -> None:
    """ "Give it back" was hidden while a provider's page was open, with no word why: a fan
    who closed that tab could only let the claim run out."""
    context, page = _buy(browser, shop)
    try:
        claim_page = page.url
        _to_the_providers_page(page, shop)
        page.goto(claim_page)  # the provider's tab closed, back on the shop
        said = page.locator("#give-back").inner_text()
        assert f"Your payment page at {shop.provider.capitalize()} is closed too" in said
        page.get_by_role("button", name="Give it back").click()
        page.get_by_role("button", name="Yes, give it back").click()
        page.get_by_role("heading", name=re.compile("is no longer held for you")).wait_for()
        assert page.locator("#claim-state").inner_text() == "Cancelled"
    finally:
        context.close()


def test_the_admin_sees_the_live_provider_and_its_keys_last_four_only(shop: Shop) -> None:
    """After the sales above: which provider is live, that its webhook was heard from,
    and each secret by its last four characters, never whole."""
    base = shop.server.base_url
    with httpx.Client(base_url=base, headers={"origin": base}) as web:
        assert web.post("/admin/signin", data={"token": ADMIN_TOKEN}).status_code == 303
        page = web.get("/admin/reconciliation").text
        about = web.get("/api/v1/payments").json()
    assert about["provider"] == shop.provider
    assert about["hosted"] is True
    live = page[page.index('id="provider"') : page.index("</section>")]
    assert shop.provider.capitalize() in live
    secrets = [STRIPE_KEY, STRIPE_SECRET] if shop.provider == "stripe" else [MOLLIE_KEY]
    for secret in secrets:
        assert secret not in page
        assert f"…{secret[-4:]}" in live
    assert f"/api/v1/payments/webhooks/{shop.provider}" in live
    assert "never: no event" not in live  # its webhooks reached the shop


def test_soldout_reconcile_reads_the_providers_own_records(shop: Shop) -> None:
    """`soldout reconcile` with the provider's settings, while serving: clean after the
    sales above, then it finds money the provider took for no order."""
    env = {**os.environ, **shop.server.env}

    def reconcile() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "soldout", "reconcile", "--data", str(shop.server.data)]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    clean = reconcile()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ok: no mismatch" in clean.stdout
    if shop.provider == "stripe":
        stray = shop.fake.charge_without_session(1000, "EUR", "pay_never_recorded")
    else:
        stray = shop.fake.payment_without_order(1000, "EUR", "pay_never_recorded")
    found = reconcile()
    assert found.returncode == 1
    assert "money_without_order: pay_never_recorded" in found.stdout, found.stdout
    assert stray  # (the provider's own id of the stray payment)


def test_a_rehearsal_is_refused_on_a_shop_that_takes_real_money(shop: Shop) -> None:
    """A rehearsal's fans pay with test cards: never against Stripe's or Mollie's pages."""
    command = [
        *(sys.executable, "-m", "soldout", "rehearse", "tuesday-noon", "--quiet"),
        *("--target", shop.server.base_url, "--admin-token", ADMIN_TOKEN, "--allow-real-data"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the target takes real money ({shop.provider})" in result.stdout + result.stderr
    with shop.server.admin() as admin:
        assert admin.get("/api/v1/rehearsals").json()["runs"] == []  # nothing was made


@pytest.mark.parametrize("shop", ["mollie"], indirect=True)
def test_the_claim_page_offers_only_the_methods_that_take_its_currency(
    browser: Any, shop: Shop
) -> None:
    """A dollar claim on a Mollie shop is offered the card alone: iDEAL and Bancontact
    move euros only (Bancontact, checked first, failed every dollar claim's first Pay)."""
    base = shop.server.base_url
    with shop.server.admin() as admin:
        skus = [{"code": "U", "name": "Gadget", "price": 3000, "currency": "USD"}]
        product = admin.post("/api/v1/products", json={"name": "Gadget", "skus": skus})
        assert product.status_code == 201, product.text
        body = {
            "product_id": product.json()["id"],
            "title": "dollars",
            "sale_opens_at": iso(now() - timedelta(seconds=1)),
            "batch": {"U": 2},
            "race": "fast",
        }
        launch = admin.post("/api/v1/launches", json=body)
        assert launch.status_code == 201, launch.text
    context = browser.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        _join(page, shop.server, "Dee Dollar")
        page.goto(f"{base}/launches/{launch.json()['id']}")
        page.locator("#buy").click()
        page.locator("#claim-link").click()
        page.wait_for_url(re.compile(r"/claims/[^/]+$"))
        offered = page.locator("input[name=method]")
        assert [offered.nth(i).get_attribute("value") for i in range(offered.count())] == [
            "creditcard"
        ]
        assert offered.first.is_checked()
    finally:
        context.close()
