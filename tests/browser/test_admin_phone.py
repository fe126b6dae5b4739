"""The maker's admin after a sale has run for ten minutes, in a real browser (Debian's
Chromium, driven by Playwright): the dashboard opened mid-sale draws the sale since it
opened; an order's page refunds only with a reason and a confirmation; no admin page, and
no `soldout report`, scrolls sideways on a phone. Screenshots: docs/screenshots/admin-*.png
with SOLDOUT_SCREENSHOTS=1.

The server runs in this process (uvicorn in a thread, an in-memory store) on a clock set
back ten minutes, which the sale's events move forward to the present: the record is a
ten-minute sale's, made in a second; the order addresses are set as the payment step
records them.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from soldout.api.app import build_app
from soldout.domain.addresses import ShippingAddress
from soldout.reports.build import build_report
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import ADMIN_TOKEN, free_port, shipping_address

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SOLDOUT_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "soldout-screenshots"
)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
SALE_SECONDS = 600
WINDOW = 180  # seconds to pay
T = TypeVar("T")

CITIES = [
    {"line1": "Keizersgracht 123", "postal_code": "1015 CJ", "city": "Amsterdam", "country": "NL",
     "phone": "+31 20 123 4567"},
    {"line1": "Torstraße 45", "postal_code": "10119", "city": "Berlin", "country": "DE",
     "phone": "+49 30 1234567"},
    {"line1": "12 Rue de Rivoli", "postal_code": "75004", "city": "Paris", "country": "FR",
     "phone": "+33 1 42 68 53 00"},
    {"line1": "221B Baker Street", "postal_code": "NW1 6XE", "city": "London", "country": "GB",
     "phone": "+44 20 7946 0958"},
    {"line1": "1 Infinite Loop", "postal_code": "95014", "city": "Cupertino", "region": "CA",
     "country": "US", "phone": "+1 408 555 0100"},
    {"line1": "Rua Augusta 27", "postal_code": "1100-048", "city": "Lisboa", "country": "PT",
     "phone": "+351 21 123 4567"},
]  # fmt: skip


class ShiftedClock:
    """The system clock, `behind` seconds back: the sale's events bring it to the present."""

    def __init__(self, behind: float) -> None:
        self.behind = behind

    def now(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.behind)


@dataclass
class LiveShop:
    base_url: str
    platform: Platform
    clock: ShiftedClock
    loop: asyncio.AbstractEventLoop
    launch_id: str = ""
    opened_at: datetime | None = None
    orders: list[str] = field(default_factory=list)
    buyers: dict[str, str] = field(default_factory=dict)  # order id -> buyer's e-mail

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the server's event loop (the engine is not thread-safe)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)


def _serve(shop: dict[str, Any], ready: threading.Event, server: uvicorn.Server) -> None:
    async def main() -> None:
        shop["loop"] = asyncio.get_running_loop()
        await server.serve()

    try:
        asyncio.run(main())
    finally:
        ready.set()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveShop]:
    clock = ShiftedClock(SALE_SECONDS)
    platform = Platform(InMemoryStore(), TokenSigner(b"s" * 32, ADMIN_TOKEN), clock=clock)
    port = free_port()
    app = build_app(platform)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    state: dict[str, Any] = {}
    stopped = threading.Event()
    thread = threading.Thread(target=_serve, args=(state, stopped, server), daemon=True)
    thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not server.started and not stopped.is_set() and datetime.now(UTC) < deadline:
        stopped.wait(0.05)  # uvicorn says `started` once it listens: nothing else to wait on
    assert server.started, "the in-process server did not start"
    shop = LiveShop(f"http://127.0.0.1:{port}", platform, clock, state["loop"])
    try:
        run_a_sale(shop)
        yield shop
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def run_a_sale(shop: LiveShop) -> None:
    """Ten minutes of a sale: a rush at the opening, then a trickle; most buyers pay within
    a minute and a half, some let their claim expire; then a few orders ship and two are
    refunded. Ends at the present."""
    rng = random.Random(15)
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=shop.base_url, timeout=30) as http:
        skus = [("M1-BLK", "Black", 12900, 60), ("M1-WHT", "White", 13900, 30),
                ("M1-RED", "Red", 13900, 20)]  # fmt: skip
        product = http.post(
            "/api/v1/products",
            headers=admin,
            json={
                "name": "Model One",
                "skus": [
                    {"code": c, "name": n, "price": p, "currency": "EUR", "cost": 5150}
                    for c, n, p, _ in skus
                ],
            },
        )
        assert product.status_code == 201, product.text
        opens = shop.clock.now()
        launch = http.post(
            "/api/v1/launches",
            headers=admin,
            json={
                "product_id": product.json()["id"],
                "title": "Model One: first batch",
                "sale_opens_at": opens.isoformat(),
                "payment_window_seconds": WINDOW,
                "race": "fast",  # the crowd here is scripted: no waiting room to pass
                "batch": {c: n for c, _, _, n in skus},
            },
        )
        assert launch.status_code == 201, launch.text
        shop.launch_id, shop.opened_at = launch.json()["id"], opens
        # (seconds since the opening, what happens, who)
        events: list[tuple[float, str, int]] = []
        arrivals = sorted(
            [rng.uniform(1, 60) for _ in range(55)] + [rng.uniform(60, 560) for _ in range(45)]
        )
        for fan, at in enumerate(arrivals):
            events.append((at, "claim", fan))
            if rng.random() < 0.8:
                events.append((at + rng.uniform(15, 90), "pay", fan))
        events.sort()
        fans: dict[int, dict[str, Any]] = {}
        claims: dict[int, str] = {}
        for at, what, fan in events:
            shop.clock.behind = SALE_SECONDS - at
            shop.call(shop.platform.engine.expire_due())  # what the sweeper does, on time
            if what == "claim":
                name = f"fan{fan:03d}"
                email = f"{name}.{uuid.uuid4().hex[:4]}@fans.test"
                body = {"email": email, "name": f"Fan {fan}", "shipping": shipping_address()}
                made = http.post("/api/v1/fans", json=body)
                assert made.status_code == 201, made.text
                fans[fan] = {**made.json(), "email": email}
                code = rng.choices([s[0] for s in skus], weights=[5, 3, 2])[0]
                held = http.post(
                    f"/api/v1/launches/{shop.launch_id}/claims",
                    json={"sku": code},
                    headers={
                        "authorization": f"Bearer {fans[fan]['token']}",
                        "idempotency-key": f"c{fan}",
                    },
                )
                if held.status_code == 201:
                    claims[fan] = held.json()["id"]
                continue
            if fan not in claims:
                continue
            paid = http.post(
                f"/api/v1/claims/{claims[fan]}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={
                    "authorization": f"Bearer {fans[fan]['token']}",
                    "idempotency-key": f"p{fan}",
                },
            )
            assert paid.status_code == 200, paid.text
            order_id = paid.json()["id"]
            shop.orders.append(order_id)
            shop.buyers[order_id] = fans[fan]["email"]
            place = {**rng.choice(CITIES), "name": f"Fan {fan}"}
            shop.call(_ship_to(shop.platform, order_id, place))
        shop.clock.behind = 0
        shop.call(shop.platform.engine.expire_due())
        shipped = http.post(
            f"/api/v1/products/{product.json()['id']}/skus/M1-BLK/shipments",
            headers=admin,
            json={"count": 8, "carrier": "DHL"},
        )
        assert shipped.status_code == 200, shipped.text
        for order_id in shop.orders[-3:-1]:
            refunded = http.post(
                f"/api/v1/orders/{order_id}/refund", headers=admin, json={"reason": "fan asked"}
            )
            assert refunded.status_code == 200, refunded.text


async def _ship_to(platform: Platform, order_id: str, place: dict[str, str]) -> None:
    order = platform.engine.orders.get(order_id)
    assert order is not None
    order.shipping = ShippingAddress.parse(place)
    await platform.store.orders.update([order])


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)


def signed_in(browser: Browser, live: LiveShop, viewport: ViewportSize) -> BrowserContext:
    context = browser.new_context(viewport=viewport, base_url=live.base_url, bypass_csp=True)
    page = context.new_page()
    page.goto("/admin/signin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Launches")
    page.close()
    return context


def sideways(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: it fits)."""
    extra: int = page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
    )
    return extra


STICKING_OUT = """() => {
  const w = window.innerWidth, out = [];
  const clipped = (el) => {
    for (let a = el.parentElement; a; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== "visible") return true;
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.right <= w + 0.5) continue;
    const escapes = ["absolute", "fixed"].includes(getComputedStyle(el).position);
    if (!clipped(el) || escapes)
      out.push(`${el.tagName.toLowerCase()}.${el.className} (${Math.round(r.right - w)} px)`);
  }
  return out.slice(0, 5);
}"""


def sticking_out(page: Page) -> list[str]:
    """The elements that stick out of the window (to say what made a page too wide)."""
    found: list[str] = page.evaluate(STICKING_OUT)
    return found


# -- the dashboard, opened ten minutes into the sale ---------------------------------------


def test_a_dashboard_opened_mid_sale_draws_the_sale_since_it_opened(
    browser: Browser, live: LiveShop
) -> None:
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        context = signed_in(browser, live, viewport)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"/admin/launches/{live.launch_id}/dashboard")
        expect(page.locator("#connection")).to_have_text("live")
        page.wait_for_function("Number(document.getElementById('live').dataset.updates) >= 2")
        # the curve starts at the opening, ten minutes before the page was opened
        first_x = page.evaluate("() => Chart.getChart('chart-units').data.datasets[0].data[0].x")
        assert live.opened_at is not None
        assert abs(first_x / 1000 - live.opened_at.timestamp()) < 1
        points = page.evaluate("() => Chart.getChart('chart-units').data.datasets[0].data")
        assert points[-1]["x"] / 1000 - first_x / 1000 >= SALE_SECONDS
        sold = [p["y"] for p in points]
        assert sold[0] == 0
        assert max(sold) >= len(live.orders) - 2  # everything paid, less two refunds
        assert int(page.locator("#sold").inner_text()) == sold[-1]
        rush = next(p for p in points if p["x"] - first_x >= 90_000)
        assert 0 < rush["y"] < sold[-1]  # the curve rose during the sale, not at the end
        per_sku = page.evaluate(
            "() => Chart.getChart('chart-sku-time').data.datasets.map(d => d.label)"
        )
        assert per_sku == ["M1-BLK", "M1-WHT", "M1-RED"]
        assert sideways(page) == 0
        shoot(page, f"dashboard-{name}")
        context.close()


# -- an order's page and the refund ---------------------------------------------------------


def test_a_refund_from_the_order_page_needs_a_reason_and_a_confirmation(
    browser: Browser, live: LiveShop
) -> None:
    context = signed_in(browser, live, DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"/admin/orders?launch_id={live.launch_id}")
    expect(page.get_by_role("cell", name="Amsterdam, Netherlands").first).to_be_visible()
    one_sku = f"/admin/orders?launch_id={live.launch_id}&sku=M1-RED"  # a screenful
    page.goto(one_sku)
    shoot(page, "orders-desktop")

    # find a buyer by e-mail, open the order
    waiting = next(
        o
        for o in live.orders
        if (order := live.platform.engine.orders.get(o)) is not None and order.in_queue
    )
    email = live.buyers[waiting]
    page.get_by_label("E-mail or order id").fill(email.upper())
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text(f"1 order of the buyer {email.upper()}")
    page.get_by_role("link", name=waiting).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {waiting}")
    expect(page.locator("address")).to_contain_text("Fan ")
    expect(page.get_by_role("heading", name="Payments")).to_be_visible()
    shoot(page, "order-desktop")
    phone = browser.new_context(
        viewport=PHONE, base_url=live.base_url, storage_state=context.storage_state()
    )
    phone_page = phone.new_page()
    phone_page.goto(page.url)
    shoot(phone_page, "order-phone")
    phone_page.goto(one_sku)
    shoot(phone_page, "orders-phone")
    phone.close()

    # without a reason, then without the tick: refused, nothing refunded
    button = page.get_by_role("button", name="Refund", exact=True)
    button.click()
    expect(page.get_by_role("alert")).to_contain_text("give the reason for the refund")
    page.get_by_label("Reason").fill("the fan asked to cancel")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("tick the box to confirm the refund")
    expect(page.get_by_label("Reason")).to_have_value("the fan asked to cancel")
    order = live.platform.engine.orders.get(waiting)
    assert order is not None
    assert order.status.value != "refunded"

    # the box says what happens; ticked, the refund goes through
    box = page.get_by_label("Refund EUR", exact=False)
    expect(box).not_to_be_checked()
    expect(page.locator("label[for=confirm]")).to_contain_text("its unit goes back on sale")
    box.check()
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("its unit is back on sale")
    expect(page.locator("ol.timeline")).to_contain_text("the fan asked to cancel")
    assert order.status.value == "refunded"
    expect(page.get_by_role("button", name="Refund", exact=True)).to_have_count(0)
    context.close()


# -- a launch's figures on a phone ----------------------------------------------------------

OFF_SCREEN = """(selector) => [...document.querySelectorAll(selector)]
  .filter((cell) => getComputedStyle(cell).display !== "none")
  .filter((cell) => {
    const r = cell.getBoundingClientRect();
    return r.left < 0 || r.right > window.innerWidth + 0.5;
  })
  .map((cell) => cell.textContent.trim())"""
STOCK = "[aria-labelledby=skus] table"  # (the box each table scrolls in, if it must)
MARGIN = "[aria-labelledby=margin] table"
FIGURES = ", ".join(f"{table} tbody {cell}" for table in (STOCK, MARGIN) for cell in ("th", "td"))


def test_every_figure_of_a_launch_is_on_a_phones_screen(browser: Browser, live: LiveShop) -> None:
    """The stock and margin tables of a launch (and its dashboard's figures per SKU) on a
    phone: no cell lies past the window's right edge (in a box scrolled sideways, with
    nothing to say it scrolls), down to the last column's link to each SKU's production
    plan; on a desktop they stay tables."""
    context = signed_in(browser, live, PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"/admin/launches/{live.launch_id}")
    assert page.evaluate(OFF_SCREEN, FIGURES) == []
    plan = page.locator(STOCK).get_by_role("link", name="Plan for M1-RED")
    box = plan.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    page.goto(f"/admin/launches/{live.launch_id}/dashboard")  # its figures per SKU, too
    assert page.evaluate(OFF_SCREEN, "#sku-table tbody th, #sku-table tbody td") == []
    page.goto(f"/admin/launches/{live.launch_id}")
    page.set_viewport_size(DESKTOP)
    expect(page.locator(f"{STOCK} thead")).to_be_visible()
    tops = page.eval_on_selector_all(
        f"{STOCK} tbody tr:first-child > *", "cells => cells.map(c => c.offsetTop)"
    )
    assert len(tops) == 9
    assert len(set(tops)) == 1  # one row on one line
    context.close()


# -- nothing scrolls sideways on a phone -----------------------------------------------------


def admin_pages(page: Page, live: LiveShop) -> list[str]:
    """Every kind of admin page reachable by links from the launches page, an order's
    page, the dashboard and two searches: one path per kind (ids and query values do not
    make a new kind)."""
    seeds = [  # each visited: the two searches are one kind, but say different things
        "/admin/launches",
        f"/admin/launches/{live.launch_id}/dashboard",
        f"/admin/orders/{live.orders[0]}",
        f"/admin/orders?q={live.orders[0]}",
        "/admin/orders?q=nobody%40example.com",
    ]
    kinds: dict[object, str] = {}
    queue = list(seeds)
    while queue and len(kinds) < 60:
        path = queue.pop(0)
        url = urlsplit(path)
        parts = url.path.split("/")
        kind = "/".join("ID" if "_" in p and any(c.isdigit() for c in p) else p for p in parts)
        key: object = (
            kind,
            frozenset(k for k, _, _ in (q.partition("=") for q in url.query.split("&")) if k),
        )
        if path in seeds:
            if path in kinds.values():
                continue
            key = (path, frozenset())
        elif key in kinds:
            continue
        kinds[key] = path
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 200, path
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            target = urlsplit(urljoin(live.base_url + path, href))
            if target.netloc != urlsplit(live.base_url).netloc:
                continue
            if not target.path.startswith("/admin/") or target.path.endswith((".csv", "/live")):
                continue
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return list(kinds.values())


def test_no_admin_page_scrolls_sideways_on_a_phone(browser: Browser, live: LiveShop) -> None:
    context = signed_in(browser, live, PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    pages = admin_pages(page, live)
    kinds = {urlsplit(p).path.split("/")[2] for p in pages}
    assert {"launches", "orders", "audit", "reconciliation", "products"} <= kinds, pages
    wide: dict[str, tuple[int, list[str]]] = {}
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("load")
        if extra := sideways(page):
            wide[path] = (extra, sticking_out(page))
    signed_out = browser.new_context(viewport=PHONE, base_url=live.base_url)
    lone = signed_out.new_page()
    lone.goto("/admin/signin")
    if extra := sideways(lone):
        wide["/admin/signin"] = (extra, sticking_out(lone))
    assert wide == {}, f"pages wider than a phone (extra px, what sticks out): {wide}"
    signed_out.close()
    context.close()


def test_a_report_does_not_scroll_sideways_on_a_phone(
    browser: Browser, live: LiveShop, tmp_path: Path
) -> None:
    built = build_report(live.launch_id, live.base_url, ADMIN_TOKEN, out=tmp_path / "report")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(built.page.as_uri())
    expect(page.get_by_role("heading", level=1)).to_contain_text("Launch report")
    assert page.locator("table").count() >= 4
    assert sideways(page) == 0, sticking_out(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report-phone.png"), full_page=True)
    context.close()
