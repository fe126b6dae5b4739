"""Word of mouth: a fan's own standing, and the maker's view of who spreads the word."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from soldout.api.deps import AdminAuth, FanAuth, platform_dep
from soldout.api.openapi import DocumentedRoute
from soldout.domain.errors import NotFound
from soldout.services import Platform

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)
PlatformDep = Annotated[Platform, Depends(platform_dep)]


@router.get("/me", tags=["fan"])
async def me(fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """The fan, their referral code and link, points, level and what it takes to rise."""
    fan = await platform.store.fans.get(fan_id)
    if fan is None:
        raise NotFound("fan")
    standing = platform.referrals.standing(fan_id)
    policy = platform.referrals.policy
    return {
        "id": fan.id,
        "email": fan.email,
        "name": fan.name,
        "referral_code": fan.referral_code,
        "referral_link": f"/join?ref={fan.referral_code}",
        "referred_by": fan.referred_by,
        "points": standing.points,
        "level": standing.level.name,
        "next_level_at": standing.level.next_at,
        "referred_fans": standing.referred_fans,
        "referred_paid_orders": standing.referred_paid_orders,
        "priority_codes_granted": standing.codes_granted,
        "rules": {
            "points_per_referred_paid_order": policy.points_per_paid_order,
            "code_every_n_referred_orders": policy.code_every_n_orders,
            "code_at_level": policy.code_at_level,
        },
    }


@router.get("/referrals/top", tags=["maker (admin token)"], dependencies=[AdminAuth])
async def top_referrers(
    platform: PlatformDep,
    n: Annotated[int, Query(ge=1, le=1000)] = 20,
    rehearsal: Annotated[
        str | None, Query(description="a rehearsal run's made-up fans instead of the real")
    ] = None,
) -> list[dict[str, Any]]:
    """The fans who brought the most paid orders (then points). A rehearsal's made-up fans
    are never among the real ones."""
    return platform.referrals.top(n, rehearsal)


@router.get("/referrals/tree/{fan_id}", tags=["maker (admin token)"], dependencies=[AdminAuth])
async def attribution_tree(
    fan_id: str, platform: PlatformDep, depth: Annotated[int, Query(ge=0, le=20)] = 3
) -> dict[str, Any]:
    """Who came through this fan, and through them, `depth` levels down."""
    if await platform.store.fans.get(fan_id) is None:
        raise NotFound("fan")
    return dict(platform.referrals.tree().subtree(fan_id, depth))


@router.get(
    "/launches/{launch_id}/referrals", tags=["maker (admin token)"], dependencies=[AdminAuth]
)
async def launch_referrals(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    """The viral figure: paid orders that came through referrals / all paid orders."""
    platform.engine.book(launch_id)
    return await platform.referrals.launch_figures(launch_id)
