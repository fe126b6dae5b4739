from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from soldout.clock import FakeClock
from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.products import Sku
from soldout.engine.book import LaunchBook
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def platform(clock: FakeClock) -> AsyncIterator[Platform]:
    p = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "adm"), clock=clock)
    await p.start(sweep=False)
    yield p
    await p.stop()


async def open_launch(
    platform: Platform, batch: dict[str, int] | None = None, **rules: object
) -> LaunchBook:
    """A product with SKUs A and B (10.00 EUR) and a launch on sale now."""
    skus = [Sku(c, c, Money(1000, "EUR"), Money(900, "EUR")) for c in ("A", "B")]
    product = await platform.catalog.create_product("Model One", "", skus)
    now = platform.clock.now()
    return await platform.catalog.create_launch(
        product_id=product.id,
        title="t",
        sale_opens_at=now - timedelta(seconds=1),
        rules=LaunchRules(**rules),  # type: ignore[arg-type]
        batch=batch or {"A": 5},
    )
