"""PostgreSQL's migration 0008 (as SQLite's 0015): a SKU's cost of 0 is kept as 0 (a free
add-on) apart from a cost not given (NULL); a 0 kept before it meant not given."""

from __future__ import annotations

from datetime import UTC, datetime

from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.store.postgresql import PostgresStore
from tests.integration.test_store_reads import migrate_postgres

pytest_plugins = ["tests.postgres"]

FREE = Sku("FREE", "Sticker", Money(100, "EUR"), Money(0, "EUR"))
BLANK = Sku("BLANK", "Deck", Money(2500, "EUR"), None)


async def costs(url: str) -> list[int | None]:
    store = PostgresStore(url)
    await store.open()  # migrates to the newest schema
    try:
        product = await store.products.get("prd_1")
        if product is None:
            await store.products.add(
                Product("prd_1", "Deck", "", (FREE, BLANK), datetime(2030, 1, 1, tzinfo=UTC))
            )
            product = await store.products.get("prd_1")
        assert product is not None
        return [s.cost_amount for s in product.skus]
    finally:
        await store.close()


async def test_a_cost_of_0_stays_0_and_one_kept_before_0008_is_not_given(
    postgres_url: str,
) -> None:
    assert await costs(postgres_url) == [0, None]
    assert await costs(postgres_url) == [0, None]  # (read back as written)
    migrate_postgres(postgres_url, "0007", down=True)  # an older version: 0 is not given
    assert await costs(postgres_url) == [None, None]
