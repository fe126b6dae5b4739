"""The demo: a "Model One" phone with three SKUs and a launch that opens shortly."""

from __future__ import annotations

from datetime import timedelta

import click

from soldout.domain.launches import LaunchRules, Phase
from soldout.domain.money import Money
from soldout.domain.products import Sku
from soldout.services.platform import Platform
from soldout.settings import Settings

__all__ = ["seed"]

DEMO_SKUS = [
    Sku("M1-64-BLK", "Model One 64 GB black", Money(19900, "EUR"), Money(18700, "EUR")),
    Sku("M1-64-WHT", "Model One 64 GB white", Money(19900, "EUR"), Money(18700, "EUR")),
    Sku("M1-128-BLK", "Model One 128 GB black", Money(24900, "EUR"), Money(22900, "EUR")),
]


async def seed(platform: Platform, settings: Settings, opens_in: int) -> None:
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
    base = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"demo launch {book.launch.title!r} opens at {book.launch.sale_opens_at:%H:%M:%S} UTC"
    )
    click.echo(f"  launch:    {base}/api/v1/launches/{book.launch.id}")
