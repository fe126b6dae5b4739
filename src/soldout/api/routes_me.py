"""A fan's own record: claims waiting for payment, the shipping address, their data to
take away, and erasing the account; renewing the bearer token, and signing out
everywhere."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from soldout.api.deps import FanAuth, platform_dep
from soldout.api.openapi import RATE_LIMITED, DocumentedRoute
from soldout.api.schemas import ShippingIn
from soldout.api.views import (
    claim_status_view,
    notification_view,
    order_view,
    payment_view,
    reservation_view,
)
from soldout.domain.addresses import ShippingAddress
from soldout.domain.fans import Fan
from soldout.services import Platform

__all__ = ["router", "shipping_view"]

router = APIRouter(prefix="/api/v1/me", tags=["fan"], route_class=DocumentedRoute)
PlatformDep = Annotated[Platform, Depends(platform_dep)]


def shipping_view(address: ShippingAddress | None) -> dict[str, str] | None:
    return address.as_dict() if address is not None else None


def _profile(fan: Fan) -> dict[str, Any]:
    return {
        "id": fan.id,
        "email": fan.email,
        "name": fan.name,
        "created_at": fan.created_at.isoformat(),
        "referral_code": fan.referral_code,
        "referred_by": fan.referred_by,
        "shipping": shipping_view(fan.shipping),
        "locale": fan.locale,
        "time_zone": fan.time_zone,
    }


@router.post("/token")
async def renew_token(fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """A fresh bearer token for the fan, good for another 30 days; the one sent keeps
    working until it expires (or the fan signs out everywhere)."""
    token, expires = platform.tokens.fan_token_until(fan_id)
    return {"token": token, "token_expires_at": expires.isoformat()}


@router.post("/sign-out-everywhere", status_code=204)
async def sign_out_everywhere(fan_id: FanAuth, platform: PlatformDep) -> Response:
    """Every bearer token of the fan stops working, this one too, and every browser
    signed in to the account is signed out. Sign in again (a sign-in link) to go on."""
    await platform.sessions.sign_out_fan_everywhere(fan_id)
    return Response(status_code=204)


@router.get("/claims")
async def my_claims(fan_id: FanAuth, platform: PlatformDep) -> list[dict[str, Any]]:
    """Claims held for the fan and waiting for payment, soonest deadline first: what to pay
    before `expires_at` (and where, once the fan left the page they claimed on)."""
    claims = platform.fans.held_claims(fan_id)
    return [claim_status_view(c, None, None, platform.engine.orders.estimate(c)) for c in claims]


@router.get("/shipping")
async def my_shipping(fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    fan = await platform.fans.fan(fan_id)
    return {"shipping": shipping_view(fan.shipping)}


@router.put("/shipping")
async def set_my_shipping(
    body: ShippingIn, fan_id: FanAuth, platform: PlatformDep
) -> dict[str, Any]:
    """Where the fan's next orders ship (orders already paid keep the address they were
    paid with). 422 names the field at fault: `shipping.postal_code`, `shipping.phone`..."""
    fan = await platform.fans.set_shipping(fan_id, body.model_dump())
    return {"shipping": shipping_view(fan.shipping)}


@router.get("/data", responses=RATE_LIMITED)
async def my_data(fan_id: FanAuth, platform: PlatformDep, response: Response) -> dict[str, Any]:
    """Everything soldout keeps about the fan, to download (GDPR articles 15 and 20)."""
    data = await platform.fans.export(fan_id)
    orders = {o.claim_id: o for o, _ in data["orders"]}
    fan: Fan = data["fan"]
    response.headers["content-disposition"] = f'attachment; filename="soldout-{fan.id}.json"'
    response.headers["cache-control"] = "no-store"
    return {
        "fan": _profile(fan),
        "reservations": [reservation_view(r) for r in data["reservations"]],
        "claims": [claim_status_view(c, orders.get(c.id)) for c in data["claims"]],
        "payments": [payment_view(p) for p in data["payments"]],
        "orders": [
            {**order_view(o, history), "shipping": shipping_view(o.shipping)}
            for o, history in data["orders"]
        ],
        "notifications": [notification_view(n) for n in data["notifications"]],
        "standing": _standing(platform, fan.id),
        "board": _board(platform, fan.id),
    }


def _board(platform: Platform, fan_id: str) -> dict[str, Any]:
    """What the fan wrote and chose on the ideas boards."""
    state = platform.board.state
    return {
        "ideas": [
            {
                "id": i.id,
                "product_id": i.product_id,
                "title": i.title,
                "text": i.text,
                "created_at": i.created_at.isoformat(),
            }
            for i in state.ideas.values()
            if i.fan_id == fan_id
        ],
        "comments": [
            {
                "id": c.id,
                "idea_id": c.idea_id,
                "text": c.text,
                "created_at": c.created_at.isoformat(),
            }
            for c in state.comments.values()
            if c.fan_id == fan_id
        ],
        "votes": sorted(idea for idea, fans in state.votes.items() if fan_id in fans),
        "poll_answers": {
            poll: answers[fan_id] for poll, answers in state.answers.items() if fan_id in answers
        },
    }


def _standing(platform: Platform, fan_id: str) -> dict[str, Any]:
    standing = platform.referrals.standing(fan_id)
    return {
        "points": standing.points,
        "level": standing.level.name,
        "referred_fans": standing.referred_fans,
        "referred_paid_orders": standing.referred_paid_orders,
    }


@router.delete(
    "",
    status_code=204,
    responses={409: {"description": "`orders_in_progress`: an order has not shipped yet"}},
)
async def erase_me(fan_id: FanAuth, platform: PlatformDep) -> Response:
    """Erase the account (GDPR article 17): name, e-mail, address and phone are erased,
    held claims released, every token of the fan stops working. Orders stay for the
    maker's books without personal data. Refused (409 `orders_in_progress`) while an
    order is paid but not shipped: cancel it first (`POST /orders/{id}/cancel`)."""
    await platform.fans.erase(fan_id)
    return Response(status_code=204)
