"""Public and fan routes: launches, registration, reservations, claims, payment, orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from soldout.api.deps import Credentials, FanAuth, platform_of
from soldout.api.hotpath import idempotency_key, parse_claim
from soldout.api.schemas import ClaimIn, FanIn, PaymentIn
from soldout.api.views import (
    claim_status_view,
    claim_view,
    launch_view,
    order_view,
    reservation_view,
)
from soldout.domain.errors import NotFound
from soldout.services import Platform

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
PlatformDep = Annotated[Platform, Depends(platform_of)]
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="a unique key per intended purchase; a retry with it never buys twice",
    ),
]


@router.get("/launches", tags=["anyone"])
async def list_launches(platform: PlatformDep) -> list[dict[str, Any]]:
    now = platform.clock.now()
    return [launch_view(b, now) for b in platform.engine.books() if b.launch.published]


@router.get("/launches/{launch_id}", tags=["anyone"])
async def get_launch(
    launch_id: str, platform: PlatformDep, credentials: Credentials
) -> dict[str, Any]:
    """A draft is visible with the admin token only."""
    book = platform.engine.book(launch_id)
    if not book.launch.published and not (
        credentials and platform.tokens.is_admin(credentials.credentials)
    ):
        raise NotFound("launch")
    return launch_view(book, platform.clock.now())


@router.post("/fans", status_code=201, tags=["anyone"])
async def register(body: FanIn, platform: PlatformDep) -> dict[str, Any]:
    fan, token = await platform.fans.register(body.email, body.name, body.referral_code)
    return {"id": fan.id, "token": token, "referral_code": fan.referral_code}


@router.post("/launches/{launch_id}/reservations", status_code=201, tags=["fan"])
async def reserve(
    launch_id: str, fan_id: FanAuth, platform: PlatformDep, response: Response
) -> dict[str, Any]:
    reservation, created = await platform.engine.reserve(launch_id, fan_id)
    if not created:
        response.status_code = 200
    return reservation_view(reservation)


@router.post(
    "/launches/{launch_id}/claims",
    status_code=201,
    tags=["fan"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ClaimIn.model_json_schema()}},
        }
    },
    responses={
        200: {"description": "a replay of an earlier request with the same Idempotency-Key"},
        403: {"description": "`reservation_required`"},
        409: {"description": "`sold_out`, `not_open`, `closed`, `limit_reached`, ..."},
    },
)
async def claim(
    launch_id: str,
    request: Request,
    fan_id: FanAuth,
    platform: PlatformDep,
    response: Response,
    idempotency_key_header: KeyHeader = None,
) -> dict[str, Any]:
    """Buy: hold units for the payment window. Served by the hot path in front of this app;
    this route answers the same way when the app runs without it."""
    body = parse_claim(await request.body())
    outcome = await platform.engine.claim(
        fan_id,
        launch_id,
        body.sku,
        body.quantity,
        idempotency_key(idempotency_key_header),
        body.priority_code,
    )
    if outcome.replayed:
        response.status_code = 200
    return claim_view(outcome.claim)


@router.get("/claims/{claim_id}", tags=["fan"])
async def get_claim(claim_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    claim = platform.engine.claim_of(fan_id, claim_id)
    return claim_status_view(claim, platform.engine.order_for(claim.id))


@router.post("/claims/{claim_id}/payment", tags=["fan"])
async def pay(
    claim_id: str,
    body: PaymentIn,
    fan_id: FanAuth,
    platform: PlatformDep,
    idempotency_key_header: KeyHeader = None,
) -> dict[str, Any]:
    outcome = await platform.engine.pay(
        fan_id, claim_id, body.method, body.token, idempotency_key(idempotency_key_header)
    )
    return order_view(outcome.order)


@router.delete("/claims/{claim_id}", tags=["fan"])
async def release(claim_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    claim = await platform.engine.cancel(fan_id, claim_id)
    return claim_status_view(claim, None)


@router.get("/orders/{order_id}", tags=["fan"])
async def get_order(order_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    return order_view(await platform.fans.order(fan_id, order_id))


@router.get("/me/orders", tags=["fan"])
async def my_orders(fan_id: FanAuth, platform: PlatformDep) -> list[dict[str, Any]]:
    return [order_view(o) for o in await platform.fans.orders(fan_id)]
