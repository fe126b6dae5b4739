"""Use cases of the maker: products (and their images), launches, priority codes."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import InvalidInput, NotFound
from soldout.domain.launches import (
    MAX_TITLE,
    Launch,
    LaunchRules,
    check_batch,
    check_schedule,
    same_second,
)
from soldout.domain.products import (
    MAX_IMAGES,
    Product,
    Sku,
    check_details,
    check_launch_currency,
    check_sku_changes,
)
from soldout.domain.text import check_text
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.ids import new_id
from soldout.services.media import MediaLibrary
from soldout.store.ports import Store

__all__ = ["Catalog", "LaunchChanges", "ProductChanges", "product_edit_detail"]

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


@dataclass(frozen=True, slots=True)
class ProductChanges:
    """What an edit changes; a field left at None is unchanged. `skus` is the whole new
    list (matched to the old one by code), `images` the whole new order (media ids)."""

    name: str | None = None
    description: str | None = None
    specs: tuple[tuple[str, str], ...] | None = None
    skus: tuple[Sku, ...] | None = None
    images: tuple[str, ...] | None = None


def product_edit_detail(before: Product, after: Product) -> dict[str, object]:
    """What the audit log says of an edit: the fields changed and, by SKU code, what was
    added, removed or repriced (not the whole description: it can be 20,000 characters)."""
    fields_changed = [
        name
        for name in ("name", "description", "specs", "images", "skus")
        if getattr(before, name) != getattr(after, name)
    ]
    detail: dict[str, object] = {"changed": fields_changed}
    if before.name != after.name:
        detail["name"] = after.name
    old = {s.code: s for s in before.skus}
    new = {s.code: s for s in after.skus}
    if added := [c for c in new if c not in old]:
        detail["skus_added"] = added
    if removed := [c for c in old if c not in new]:
        detail["skus_removed"] = removed
    if repriced := {
        c: {"from": str(old[c].price), "to": str(s.price)}
        for c, s in new.items()
        if c in old and old[c].price != s.price
    }:
        detail["prices"] = repriced
    return detail


class Catalog:
    def __init__(self, store: Store, engine: SaleEngine, clock: Clock) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self._media = MediaLibrary(store.media, clock, store.transaction)

    def announced(self, product_id: str) -> bool:
        """Whether fans may know of the product: one of its launches is published (a draft
        launch does not exist for fans, nor does a product with only drafts)."""
        return any(
            b.launch.product_id == product_id and b.launch.published and b.launch.rehearsal is None
            for b in self._engine.books()
        )

    async def create_product(
        self,
        name: str,
        description: str,
        skus: list[Sku],
        specs: tuple[tuple[str, str], ...] = (),
        images: tuple[str, ...] = (),
        rehearsal: str | None = None,  # made by that rehearsal run (see `create_launch`)
    ) -> Product:
        check_sku_changes((), tuple(skus), {})
        check_details(name, description, specs, images)
        await self._check_images(images)
        product = Product(
            new_id("prd"),
            name,
            description,
            tuple(skus),
            self._clock.now(),
            specs,
            images,
            rehearsal=rehearsal,
        )
        await self._store.products.add(product)
        return product

    async def product(self, product_id: str) -> Product:
        product = await self._store.products.get(product_id)
        if product is None:
            raise NotFound("product")
        return product

    async def change_product(self, product_id: str, changes: ProductChanges) -> Product:
        """Edit a product; its launch pages show the change at once. A SKU in a launch
        stays and keeps its currency (`check_sku_changes`)."""
        before = await self.product(product_id)
        given = {f.name: getattr(changes, f.name) for f in fields(changes)}
        after = replace(before, **{k: v for k, v in given.items() if v is not None})
        check_sku_changes(before.skus, after.skus, self.skus_in_launches(product_id))
        check_details(after.name, after.description, after.specs, after.images, before)
        await self._check_images(after.images, known=before.images)
        await self._store.products.update(after)
        self._engine.launch_books.product_changed(after)
        return after

    async def add_product_image(self, product_id: str, data: bytes) -> tuple[Product, str]:
        """Check, resize and store an uploaded image, then show it last on the product
        (an image the product already has stays where it is). The product and the image's
        media id."""
        product = await self.product(product_id)
        if len(product.images) >= MAX_IMAGES:
            raise InvalidInput(f"at most {MAX_IMAGES} images per product", field="image")
        image = await self._media.add_image(data, field="image")
        if image.id in product.images:
            return product, image.id
        product = await self.product(product_id)  # (another edit may have landed meanwhile)
        changes = ProductChanges(images=(*product.images, image.id))
        return await self.change_product(product_id, changes), image.id

    async def remove_product_image(self, product_id: str, media_id: str) -> Product:
        """The product no longer shows the image (its bytes stay: pages already shared
        may still point at them)."""
        product = await self.product(product_id)
        if media_id not in product.images:
            raise NotFound("image", field="media_id")
        images = tuple(m for m in product.images if m != media_id)
        return await self.change_product(product_id, ProductChanges(images=images))

    def skus_in_launches(self, product_id: str) -> dict[str, str]:
        """Each SKU code of the product that a launch has in its batch (drafts and
        cancelled launches too: their claims and orders name it), with the launch's title."""
        found: dict[str, str] = {}
        for book in self._engine.books():
            if book.launch.product_id == product_id:
                for code in book.launch.batch:
                    found.setdefault(code, book.launch.title)
        return found

    def launches_by_product(self) -> dict[str, list[Launch]]:
        """Every launch, grouped by product, oldest first."""
        found: dict[str, list[Launch]] = {}
        for book in sorted(self._engine.books(), key=lambda b: b.launch.created_at):
            found.setdefault(book.launch.product_id, []).append(book.launch)
        return found

    async def _check_images(self, images: tuple[str, ...], known: tuple[str, ...] = ()) -> None:
        for i, media_id in enumerate(images):
            if media_id not in known and not await self._media.exists(media_id):
                raise InvalidInput(
                    f"no uploaded image has the id {media_id!r}",
                    field=f"images[{i}]",
                    code="unknown_image",
                )

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
        rehearsal: str | None = None,
    ) -> LaunchBook:
        """A new launch. `rehearsal`: made by that rehearsal run, for its made-up fans
        only; it sells a product of the same run, and a real launch a real product, so a
        rehearsal's orders never join a real production queue nor move its ship dates."""
        product = await self._store.products.get(product_id)
        if product is None:
            raise NotFound("product", field="product_id")
        if product.rehearsal != rehearsal:
            raise InvalidInput(
                "a rehearsal's launch sells its own product, and a real launch a real one",
                field="product_id",
                code="rehearsal_product",
            )
        check_text(title, field="title", limit=MAX_TITLE, label="the launch's title")
        check_schedule(reservations_open_at, sale_opens_at, sale_closes_at)
        check_batch(batch, {s.code for s in product.skus})
        check_launch_currency(product, batch)
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
            rehearsal=rehearsal,
        )
        return await self._engine.launches.add(launch, product)

    async def change_launch(self, launch_id: str, changes: LaunchChanges) -> LaunchBook:
        self._engine.book(launch_id)  # NotFound first
        await self._engine.archive.revive(launch_id)  # (an archived one: read back first)
        launch = self._engine.book(launch_id).launch
        if launch.cancelled_at is not None:
            raise InvalidInput("a cancelled launch cannot be changed", field=None, code="cancelled")
        updates: dict[str, object] = {}
        if changes.title is not None:
            check_text(changes.title, field="title", limit=MAX_TITLE, label="the launch's title")
            updates["title"] = changes.title
        for name in ("reservations_open_at", "sale_closes_at"):
            value = getattr(changes, name)
            if value is not _UNSET:
                updates[name] = value
        opens = changes.sale_opens_at
        if opens is not None and not same_second(opens, launch.sale_opens_at):
            book = self._engine.book(launch_id)
            if any(s.held or s.paid for s in book.stock.values()):
                raise InvalidInput(
                    "fans already hold or bought units of this sale, so its opening cannot"
                    " move; pause the sale to stop it for a while",
                    field="sale_opens_at",
                )
            updates["sale_opens_at"] = opens
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
        return await self._engine.launches.change(launch.with_changes(**updates))

    async def issue_codes(
        self, launch_id: str, sku: str | None, count: int, expires_at: datetime | None = None
    ) -> list[PriorityCode]:
        if not 1 <= count <= 10_000:
            raise InvalidInput("count must be between 1 and 10000", field="count")
        return await self._engine.codes.issue(launch_id, sku, count, expires_at)
