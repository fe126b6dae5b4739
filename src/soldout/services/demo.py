"""The demo: a "Model One" phone with three SKUs and a launch that opens shortly."""

from __future__ import annotations

from datetime import date, timedelta

import click

from soldout.domain.launches import Phase, Race, rules_for
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.services import demo_art
from soldout.services.catalog import ProductChanges
from soldout.services.demo_board import seed_board
from soldout.services.fulfilment import PlanInput
from soldout.services.platform import Platform
from soldout.settings import Settings

__all__ = ["seed"]

DEMO_SKUS = [
    Sku("M1-64-BLK", "Model One 64 GB black", Money(19900, "EUR"), Money(18700, "EUR")),
    Sku("M1-64-WHT", "Model One 64 GB white", Money(19900, "EUR"), Money(18700, "EUR")),
    Sku("M1-128-BLK", "Model One 128 GB black", Money(24900, "EUR"), Money(22900, "EUR")),
]


STORY = """\
A phone made with its fans, sold near cost.

## Shaped by the people who use it
Every Friday we read what you asked for on the forum, and every batch ships with what we
heard. The 128 GB model exists because **3,412 of you** asked for it.

## Honest from order to doorstep
- the counts on this page are live: units set aside for priority codes are shown, never hidden;
- your ship date comes from the production plan and your place in the queue, and moves only
  when the plan does (we tell you when it does);
- one per fan, so the batch reaches fans and not resellers.
"""
SPECS = (
    ("Display", '6.1" OLED, 2532 x 1170'),
    ("Storage", "64 GB or 128 GB"),
    ("Battery", "4,000 mAh, 30 W charging"),
    ("Cameras", "50 MP main, 12 MP ultra-wide, 12 MP front"),
    ("Weight", "178 g"),
)


async def _dress(platform: Platform, product: Product) -> Product:
    """The demo product's story, specs and pictures (drawn in `demo_art`)."""
    if product.images:
        return product
    changes = ProductChanges(description=STORY, specs=SPECS)
    product = await platform.catalog.change_product(product.id, changes)
    for picture in (demo_art.phone_front(), demo_art.phone_back()):
        product, _ = await platform.catalog.add_product_image(product.id, picture)
    return product


async def _plan_production(platform: Platform, product_id: str, today: date) -> None:
    """The seed's ramp: a little stock made, then 20 a day, rising to 60 a day a week on
    (a small line, so the demo's ship dates spread over a few weeks)."""
    for sku in DEMO_SKUS:
        if platform.engine.orders.fulfilment.plan(product_id, sku.code) is not None:
            continue
        await platform.fulfilment.set_plan(
            product_id,
            sku.code,
            PlanInput(
                starts_on=today + timedelta(days=3),
                produced=10,
                rates=[(today + timedelta(days=3), 20), (today + timedelta(days=10), 60)],
                adjustments=[],
            ),
        )


async def seed(platform: Platform, settings: Settings, opens_in: int) -> None:
    platform.demo = True
    now = platform.clock.now()
    live = [
        b
        for b in platform.engine.books()
        if b.product.name == "Model One" and b.launch.phase(now) is not Phase.CLOSED
    ]
    if live:
        book = live[-1]
    else:
        products = [p for p in await platform.store.products.all() if p.name == "Model One"]
        product = (
            products[0]
            if products
            else await platform.catalog.create_product("Model One", STORY, DEMO_SKUS)
        )
        await _dress(platform, product)
        book = await platform.catalog.create_launch(
            product_id=product.id,
            title="Model One — first round",
            sale_opens_at=now + timedelta(seconds=opens_in),
            sale_closes_at=now + timedelta(seconds=opens_in, hours=2),
            reservations_open_at=now,
            # the fast race, so that the README's curl calls buy straight away; a launch made
            # with the API's or the admin's defaults is the fair one
            rules=rules_for(Race.FAST, units=250, per_fan_limit=1, payment_window_seconds=900),
            batch={"M1-64-BLK": 100, "M1-64-WHT": 100, "M1-128-BLK": 50},
        )
    await _dress(platform, book.product)
    await _plan_production(platform, book.product.id, now.date())
    await seed_board(platform, book.product)
    base = settings.base_url
    click.echo(
        f"demo launch {book.launch.title!r} opens at {book.launch.sale_opens_at:%H:%M:%S} UTC"
    )
    click.echo(f"  storefront: {base}/launches/{book.launch.id}")
    click.echo(f"  ideas:      {base}/products/{book.product.id}/ideas")
    click.echo(f"  admin:      {base}/admin  (sign in with the admin token below)")
    click.echo(f"  launch API: {base}/api/v1/launches/{book.launch.id}")
