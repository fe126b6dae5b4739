"""Use cases of the maker: products, launches, priority codes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import InvalidInput, NotFound
from soldout.domain.launches import Launch, LaunchRules, check_batch, check_schedule
from soldout.domain.products import Product, Sku
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["Catalog", "LaunchChanges"]

_UNSET: object = object()


@dataclass(frozen=True, slots=True)
class LaunchChanges:
    """What PATCH may change; a field left at None is unchanged."""

    title: str | None = None
    reservations_open_at: datetime | object | None = _UNSET
    sale_opens_at: datetime | None = None
    sale_closes_at: datetime | object | None = _UNSET
    batch: dict[str, int] | None = None
    published: bool | None = None
    paused: bool | None = None
    rules: dict[str, object] = field(default_factory=dict)  # rules a live sale may change
    cancel: bool = False


class Catalog:
    def __init__(self, store: Store, engine: SaleEngine, clock: Clock) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock

    async def create_product(self, name: str, description: str, skus: list[Sku]) -> Product:
        Product.check_skus(tuple(skus))
        product = Product(new_id("prd"), name, description, tuple(skus), self._clock.now())
        await self._store.products.add(product)
        return product

    async def product(self, product_id: str) -> Product:
        product = await self._store.products.get(product_id)
        if product is None:
            raise NotFound("product")
        return product

    async def create_launch(
        self,
        *,
        product_id: str,
        title: str,
        sale_opens_at: datetime,
        rules: LaunchRules,
        batch: dict[str, int],
        reservations_open_at: datetime | None = None,
        sale_closes_at: datetime | None = None,
        published: bool = True,
    ) -> LaunchBook:
        product = await self._store.products.get(product_id)
        if product is None:
            raise NotFound("product", field="product_id")
        check_schedule(reservations_open_at, sale_opens_at, sale_closes_at)
        check_batch(batch, {s.code for s in product.skus})
        launch = Launch(
            id=new_id("lch"),
            product_id=product_id,
            title=title,
            sale_opens_at=sale_opens_at,
            rules=rules,
            batch=dict(batch),
            created_at=self._clock.now(),
            reservations_open_at=reservations_open_at,
            sale_closes_at=sale_closes_at,
            published=published,
        )
        return await self._engine.add_launch(launch, product)

    async def change_launch(self, launch_id: str, changes: LaunchChanges) -> LaunchBook:
        launch = self._engine.book(launch_id).launch
        if launch.cancelled_at is not None:
            raise InvalidInput("a cancelled launch cannot be changed", field=None, code="cancelled")
        updates: dict[str, object] = {}
        if changes.title is not None:
            updates["title"] = changes.title
        for name in ("reservations_open_at", "sale_closes_at"):
            value = getattr(changes, name)
            if value is not _UNSET:
                updates[name] = value
        if changes.sale_opens_at is not None:
            updates["sale_opens_at"] = changes.sale_opens_at
        if changes.batch is not None:
            check_batch(changes.batch, set(launch.batch))
            updates["batch"] = {**launch.batch, **changes.batch}
        if changes.published is not None:
            if launch.published and not changes.published:
                raise InvalidInput("a published launch cannot go back to draft", field="published")
            updates["published"] = changes.published
        if changes.rules:  # validated like new rules (LaunchRules checks itself)
            updates["rules"] = replace(launch.rules, **changes.rules)  # type: ignore[arg-type]
        if changes.paused is not None:
            updates["paused_at"] = self._clock.now() if changes.paused else None
        if changes.cancel:
            updates["cancelled_at"] = self._clock.now()
        return await self._engine.change_launch(launch.with_changes(**updates))

    async def issue_codes(
        self, launch_id: str, sku: str | None, count: int, expires_at: datetime | None = None
    ) -> list[PriorityCode]:
        if not 1 <= count <= 10_000:
            raise InvalidInput("count must be between 1 and 10000", field="count")
        return await self._engine.issue_codes(launch_id, sku, count, expires_at)
