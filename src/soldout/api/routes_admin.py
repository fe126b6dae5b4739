"""The maker's routes: products, launches, stats, priority codes. Admin token only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from soldout.api.deps import AdminAuth, platform_of
from soldout.api.schemas import CodesIn, LaunchIn, LaunchPatch, ProductIn
from soldout.api.views import code_view, launch_view, product_view, stats_view
from soldout.domain.launches import LaunchRules, Mode
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import Sku
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", dependencies=[AdminAuth], tags=["maker (admin token)"])
PlatformDep = Annotated[Platform, Depends(platform_of)]


@router.post("/products", status_code=201)
async def create_product(body: ProductIn, platform: PlatformDep) -> dict[str, Any]:
    skus = []
    for i, s in enumerate(body.skus):
        currency = validate_currency(s.currency, field=f"skus[{i}].currency")
        skus.append(Sku(s.code, s.name, Money(s.price, currency), Money(s.cost, currency)))
    product = await platform.catalog.create_product(body.name, body.description, skus)
    return product_view(product)


@router.get("/products")
async def list_products(platform: PlatformDep) -> list[dict[str, Any]]:
    return [product_view(p) for p in await platform.store.products.all()]


@router.get("/products/{product_id}")
async def get_product(product_id: str, platform: PlatformDep) -> dict[str, Any]:
    return product_view(await platform.catalog.product(product_id))


@router.post("/launches", status_code=201)
async def create_launch(body: LaunchIn, platform: PlatformDep) -> dict[str, Any]:
    rules = LaunchRules(
        mode=Mode(body.mode),
        reservation_required=body.reservation_required,
        per_fan_limit=body.per_fan_limit,
        payment_window_seconds=body.payment_window_seconds,
    )
    book = await platform.catalog.create_launch(
        product_id=body.product_id,
        title=body.title,
        sale_opens_at=body.sale_opens_at,
        rules=rules,
        batch=body.batch,
        reservations_open_at=body.reservations_open_at,
        sale_closes_at=body.sale_closes_at,
        published=not body.draft,
    )
    return launch_view(book, platform.clock.now(), platform.engine.orders)


@router.patch("/launches/{launch_id}")
async def change_launch(launch_id: str, body: LaunchPatch, platform: PlatformDep) -> dict[str, Any]:
    given = body.model_fields_set
    optional = {
        name: getattr(body, name)
        for name in ("reservations_open_at", "sale_closes_at")
        if name in given
    }
    changes = LaunchChanges(
        title=body.title,
        sale_opens_at=body.sale_opens_at,
        batch=body.batch,
        published=body.published,
        cancel=body.cancel,
        **optional,
    )
    book = await platform.catalog.change_launch(launch_id, changes)
    return launch_view(book, platform.clock.now(), platform.engine.orders)


@router.get("/launches/{launch_id}/stats")
async def launch_stats(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    book = platform.engine.book(launch_id)
    return stats_view(book, dict(book.claim_states), platform.clock.now())


@router.post("/launches/{launch_id}/priority-codes", status_code=201)
async def issue_codes(launch_id: str, body: CodesIn, platform: PlatformDep) -> dict[str, Any]:
    codes = await platform.catalog.issue_codes(launch_id, body.sku, body.count)
    return {"codes": [code_view(c) for c in codes]}


@router.get("/launches/{launch_id}/priority-codes")
async def list_codes(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    book = platform.engine.book(launch_id)
    return {"codes": [code_view(c) for c in book.codes.values()]}
