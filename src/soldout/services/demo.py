"""The demo: a "Model One" phone with three SKUs and a launch that opens shortly."""

from __future__ import annotations

from datetime import date, timedelta

import click

from soldout.domain.launches import LaunchRules, Phase
from soldout.domain.money import Money
from soldout.domain.products import Sku
from soldout.services.fulfilment import PlanInput
from soldout.services.platform import Platform
from soldout.settings import Settings

__all__ = ["seed"]

DEMO_SKUS = [
    Sku("M1-64-BLK", "Model One 64 GB black", Money(19900, "EUR"), Money(18700, "EUR")),
    Sku("M1-64-WHT", "Model One 64 GB white", Money(19900, "EUR"), Money(18700, "EUR")),
    Sku("M1-128-BLK", "Model One 128 GB black", Money(24900, "EUR"), Money(22900, "EUR")),
]


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
            else await platform.catalog.create_product(
                "Model One", "A phone made with its fans, sold near cost.", DEMO_SKUS
            )
        )
        book = await platform.catalog.create_launch(
            product_id=product.id,
            title="Model One — first round",
            sale_opens_at=now + timedelta(seconds=opens_in),
            sale_closes_at=now + timedelta(seconds=opens_in, hours=2),
            reservations_open_at=now,
            rules=LaunchRules(per_fan_limit=1, payment_window_seconds=900),
            batch={"M1-64-BLK": 100, "M1-64-WHT": 100, "M1-128-BLK": 50},
        )
    await _plan_production(platform, book.product.id, now.date())
    base = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"demo launch {book.launch.title!r} opens at {book.launch.sale_opens_at:%H:%M:%S} UTC"
    )
    click.echo(f"  storefront: {base}/launches/{book.launch.id}")
    click.echo(f"  admin:      {base}/admin  (sign in with the admin token below)")
    click.echo(f"  launch API: {base}/api/v1/launches/{book.launch.id}")
