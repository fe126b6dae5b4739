"""The rehearsal API: what `soldout rehearse` makes up on a server, marked with its run id,
and its removal. Admin token only: a fan can never mark themselves (or anything) as a
rehearsal's, nor reach a rehearsal's launch.

A run's product, fans and launch are made here rather than through `/products`, `/fans`
and `/launches`, so that the mark is set by the admin and the public routes stay as they
are. See docs/rehearsal.md ("Against a real shop").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from soldout.api.deps import Actor, AdminAuth, platform_dep
from soldout.api.openapi import NO_SUCH_PRODUCT, DocumentedRoute
from soldout.api.routes_admin import add_launch
from soldout.api.schemas import FanIn, LaunchIn, ProductIn
from soldout.api.views import product_view
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import Sku, given_cost
from soldout.domain.rehearsals import RunCounts, check_run_id
from soldout.services import Platform

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/rehearsals",
    dependencies=[AdminAuth],
    tags=["rehearsals"],
    route_class=DocumentedRoute,
)
PlatformDep = Annotated[Platform, Depends(platform_dep)]


def _counts(c: RunCounts) -> dict[str, Any]:
    return {
        "products": c.products,
        "launches": c.launches,
        "fans": c.fans,
        "orders": c.orders,
        **({"run": c.run, "claims": c.claims, "launch_ids": list(c.launch_ids)} if c.run else {}),
    }


@router.get("")
async def rehearsals(platform: PlatformDep) -> dict[str, Any]:
    """What the real shop holds (`real`: a rehearsal refuses to run beside it unless told
    to) and what each rehearsal run left (`runs`), so that it can be removed."""
    real, runs = await platform.rehearsals.overview()
    return {"real": _counts(real), "runs": [_counts(r) for r in runs]}


@router.post("/{run}/products", status_code=201)
async def create_product(
    run: str, body: ProductIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """A product of the run: only the run's launches may sell it."""
    skus = []
    for i, s in enumerate(body.skus):
        currency = validate_currency(s.currency, field=f"skus[{i}].currency")
        skus.append(Sku(s.code, s.name, Money(s.price, currency), given_cost(s.cost, currency)))
    product = await platform.rehearsals.create_product(run, body.name, body.description, skus)
    await platform.audit(actor, "product.create", product.id, {"name": body.name, "rehearsal": run})
    return {**product_view(product), "rehearsal": run}


@router.post("/{run}/fans", status_code=201, responses={409: {"description": "`email_taken`"}})
async def register(run: str, body: FanIn, platform: PlatformDep) -> dict[str, Any]:
    """A made-up fan of the run, with its token: it sees only the run's launches, and is
    referred only by the run's fans. Never e-mailed. (Not in the audit log: a rehearsal
    registers thousands.)"""
    fan, token = await platform.rehearsals.register(
        run,
        body.email,
        body.name,
        body.referral_code,
        body.address,
        body.phone,
        body.shipping.model_dump() if body.shipping else None,
    )
    return {"id": fan.id, "token": token, "referral_code": fan.referral_code, "rehearsal": run}


@router.post("/{run}/launches", status_code=201, responses=NO_SUCH_PRODUCT)
async def create_launch(
    run: str, body: LaunchIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """A launch of the run, as `POST /launches` (fair by default), selling the run's
    product. No real fan can see it, list it or buy from it."""
    return await add_launch(body, platform, actor, rehearsal=check_run_id(run))


@router.delete("/{run}", responses={409: {"description": "`rehearsal_busy`"}})
async def remove(run: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Remove everything the run made, while the server runs: its launches are cancelled,
    what is still running for them is awaited, then its launches, product, fans, claims,
    orders, payments and notifications are deleted in one transaction, and its captured
    test payments refunded at the provider. Removing a run twice removes nothing the
    second time. 409 `rehearsal_busy` if its payments are still running after 30 s."""
    removal = await platform.rehearsals.remove(run)
    detail = removal.counts()
    await platform.audit(actor, "rehearsal.remove", run, detail)
    return {"run": run, **detail}
