"""Public and fan routes: launches, registration, reservations, claims, payment, orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from soldout.api.access import fan_seen
from soldout.api.claim_core import ClaimCore
from soldout.api.deps import Credentials, FanAuth, client_address, platform_dep
from soldout.api.openapi import (
    CLAIM_ANSWERS,
    CLAIM_REQUEST,
    IDEMPOTENCY_KEY,
    RATE_LIMITED,
    DocumentedRoute,
)
from soldout.api.pay_core import paid
from soldout.api.schemas import FanIn, PaymentIn, ReservationIn
from soldout.api.views import (
    claim_status_view,
    launch_view,
    notification_view,
    order_view,
    reservation_view,
)
from soldout.domain.claims import Claim
from soldout.domain.errors import NotFound
from soldout.engine.waiting_room import RoomView
from soldout.services import Platform

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)
PlatformDep = Annotated[Platform, Depends(platform_dep)]


@router.get("/launches", tags=["anyone"])
async def list_launches(platform: PlatformDep) -> list[dict[str, Any]]:
    now = platform.clock.now()
    return [
        launch_view(b, now, platform.engine.orders)
        for b in platform.engine.books()
        if b.launch.published and b.launch.rehearsal is None  # a rehearsal is not for fans
    ]


@router.get(
    "/launches/{launch_id}",
    tags=["anyone"],
    openapi_extra={"security": [{}]},  # (after the bearer token: or none at all)
)
async def get_launch(
    launch_id: str, platform: PlatformDep, credentials: Credentials
) -> dict[str, Any]:
    """A draft is visible with the admin token only; a rehearsal's launch with the admin
    token or the token of a fan that rehearsal made up."""
    token = credentials.credentials if credentials else None
    if token is not None and platform.tokens.is_admin(token):
        book = platform.engine.book(launch_id)
    else:
        fan_id = platform.tokens.fan_of(token) if token is not None else None
        book = platform.engine.public_book(launch_id, fan_id)
    return launch_view(book, platform.clock.now(), platform.engine.orders)


@router.get("/launches/{launch_id}/draw", tags=["anyone"])
async def get_draw(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    """A draw launch's public record: the commitment to its seed and the entries (by
    reservation id) from the start; the seed and the winners and backups per SKU once
    drawn. `soldout verify-draw URL` recomputes the result from this document alone."""
    book = platform.engine.public_book(launch_id)
    if not book.launch.is_draw:
        raise NotFound("draw")
    await platform.engine.archive.revive(launch_id)  # its entries and result are in memory
    return await platform.engine.draws.document(book)


def _room_view(view: RoomView) -> dict[str, Any]:
    return {
        "state": view.state,
        "position": view.position,
        "ahead": view.ahead,
        "estimated_wait_seconds": round(view.estimated_wait_seconds, 1),
        "poll_after_seconds": view.poll_after_seconds,
        "admission_token": view.admission_token,
        "admission_expires_at": view.admission_expires_at.isoformat()
        if view.admission_expires_at
        else None,
    }


@router.post("/launches/{launch_id}/waiting-room", tags=["fan"])
async def join_waiting_room(
    launch_id: str, fan_id: FanAuth, platform: PlatformDep
) -> dict[str, Any]:
    """Take a place (fans there before opening are shuffled at opening: arriving earlier
    gives no advantage). Joining again keeps the place."""
    book = platform.engine.public_book(launch_id, fan_id)
    return _room_view(await platform.gate.join(book, fan_id))


@router.get("/launches/{launch_id}/waiting-room", tags=["fan"])
async def waiting_room(launch_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """Position, fans ahead, estimated wait and when to ask again; once admitted, the
    `admission_token` to send as the `Admission-Token` header of the claim. A place
    not polled for 30 s is given up when its turn comes."""
    book = platform.engine.public_book(launch_id, fan_id)
    return _room_view(platform.gate.view(book, fan_id))


@router.post("/launches/{launch_id}/challenge", tags=["fan"])
async def proof_of_work_challenge(
    launch_id: str, fan_id: FanAuth, platform: PlatformDep
) -> dict[str, Any]:
    """A proof-of-work challenge for one claim: find a decimal `nonce` such that
    SHA-256(`token` + ":" + nonce) starts with `difficulty` zero bits, then send
    `Proof-Of-Work: TOKEN:NONCE` with the claim. Single use, bound to fan and launch."""
    book = platform.engine.public_book(launch_id, fan_id)
    challenge = platform.gate.challenge(book, fan_id)
    return {
        "token": challenge.token,
        "difficulty": challenge.difficulty,
        "expires_at": challenge.expires_at.isoformat(),
        "algorithm": "sha256(token + ':' + nonce), leading zero bits",
    }


@router.post(
    "/fans",
    status_code=201,
    tags=["anyone"],
    responses={**RATE_LIMITED, 409: {"description": "`email_taken`"}},
)
async def register(body: FanIn, platform: PlatformDep, request: Request) -> dict[str, Any]:
    """A new fan and their bearer token, which works for 30 days (`token_expires_at`;
    renew it with `POST /me/token`). Sign-ups are limited per client address (429)."""
    platform.throttle.sign_up(client_address(request))
    fan, token = await platform.fans.register(
        body.email,
        body.name,
        body.referral_code,
        body.address,
        body.phone,
        shipping=body.shipping.model_dump() if body.shipping else None,
        locale=body.locale,
        time_zone=body.time_zone,
    )
    expires = platform.tokens.expires_at(token)
    return {
        "id": fan.id,
        "token": token,
        "token_expires_at": expires.isoformat() if expires else None,
        "referral_code": fan.referral_code,
    }


@router.post(
    "/launches/{launch_id}/reservations",
    status_code=201,
    tags=["fan"],
    responses={
        200: {"description": "the fan's reservation, made before"},
        403: {"description": "`account_too_new`, `duplicate_buyer` (a draw)"},
        409: {"description": "`reservations_not_open`, `reservations_closed`"},
    },
)
async def reserve(
    launch_id: str,
    fan_id: FanAuth,
    platform: PlatformDep,
    response: Response,
    body: ReservationIn | None = None,
) -> dict[str, Any]:
    """Reserve (201; 200 with the same reservation if it exists), for the SKU the fan
    wants: the maker's demand counts it. In a draw the reservation is the fan's entry:
    name the SKU when the launch sells several."""
    sku = body.sku if body is not None else None
    reservation, created = await platform.fans.reserve(launch_id, fan_id, sku)
    if not created:
        response.status_code = 200
    return reservation_view(reservation)


@router.post(
    "/launches/{launch_id}/claims",
    status_code=201,
    tags=["fan"],
    response_model=None,
    openapi_extra=CLAIM_REQUEST,
    responses=CLAIM_ANSWERS,
)
async def claim(launch_id: str, request: Request, credentials: Credentials) -> Response:
    """Buy: hold units for the payment window. Served by the hot path in front of this app
    (`soldout.api.hotpath`); this route, when the app runs without it, answers through the
    same core (`soldout.api.claim_core`). The body is read as JSON whatever its
    Content-Type; the fan is the bearer token's, or the storefront session's, as the core
    reads them (`credentials` only declares the bearer scheme in the schema)."""
    core: ClaimCore = request.app.state.claims
    status, body, retry_after, fan_id = await core.answer(
        launch_id, request.headers, await request.body(), client_address(request)
    )
    if fan_id is not None:
        fan_seen(request.scope.setdefault("state", {}), fan_id)
    headers = {"retry-after": str(retry_after)} if retry_after else None
    return Response(body, status, headers, media_type="application/json")


def _claim_now(platform: Platform, claim: Claim) -> dict[str, Any]:
    payments = platform.engine.checkout.payments_of(claim.id)
    return claim_status_view(
        claim,
        platform.engine.order_for(claim.id),
        payments[-1] if payments else None,
        platform.engine.orders.estimate(claim) if claim.is_held else None,
    )


@router.get("/claims/{claim_id}", tags=["fan"])
async def get_claim(claim_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """The claim, its latest payment, and the ship date it would get if paid now."""
    return _claim_now(platform, await platform.engine.claim_of(fan_id, claim_id))


@router.post(
    "/claims/{claim_id}/payment",
    tags=["fan"],
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
    responses={
        202: {
            "description": "the provider has not decided yet: poll the claim; with a hosted"
            " provider (Stripe, Mollie), send the fan to `redirect_url` to pay there"
        },
        402: {"description": "`payment_declined`: the claim stays held until it expires"},
        422: {"description": "`shipping_required`: no address on file and none given"},
        409: {"description": "`claim_expired`, `already_paid`, `payment_pending`, ..."},
        502: {"description": "`payment_failed`: the provider failed; nothing was charged"},
    },
)
async def pay(
    claim_id: str,
    body: PaymentIn,
    fan_id: FanAuth,
    platform: PlatformDep,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Pay for a held claim: 200 with the order and its ship date, or 202 while the
    provider decides (its webhook completes the order, or refunds the money if the claim
    has expired by then). With the `test` provider, `method` is `test` and the token a
    test card: `tok_ok`, `tok_decline`, `tok_delayed`, `tok_delayed_decline`,
    `tok_timeout`, `tok_capture_fail`. With a hosted provider (`GET /api/v1/payments`
    names it and its methods) there is no token: the answer is 202 with `redirect_url`,
    the provider's page where the fan pays; it sends them back to the shop's claim page
    (`/claims/ID/back`), which asks the provider how it went. Paying again on the same
    claim closes an unpaid earlier page first. The order ships to the fan's
    address: give `shipping` (checked and kept as the fan's address before any money
    moves), or set it first (`PUT /me/shipping`); with neither, 422 `shipping_required`."""
    status, view = await paid(
        platform, fan_id, claim_id, body, request.headers.get("idempotency-key")
    )
    response.status_code = status
    return view


@router.delete(
    "/claims/{claim_id}",
    tags=["fan"],
    responses={409: {"description": "`already_paid`, `claim_expired`"}},
)
async def release(claim_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    claim = await platform.engine.cancel(fan_id, claim_id)
    return _claim_now(platform, claim)  # with a payment still in flight, if there is one


@router.get("/orders/{order_id}", tags=["fan"])
async def get_order(order_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """The order with its status, ship date and history."""
    order = await platform.fans.order(fan_id, order_id)
    return order_view(order, await platform.fans.history(order))


@router.post(
    "/orders/{order_id}/cancel",
    tags=["fan"],
    responses={
        409: {"description": "`already_shipped`"},
        502: {"description": "`payment_failed`: the provider did not refund; retry"},
    },
)
async def cancel_order(order_id: str, fan_id: FanAuth, platform: PlatformDep) -> dict[str, Any]:
    """Take back an order that has not shipped: refunded in full, the unit goes back on
    sale. 409 `already_shipped` once it has shipped."""
    order = await platform.fans.cancel_order(fan_id, order_id)
    return order_view(order, await platform.fans.history(order))


@router.get("/me/orders", tags=["fan"])
async def my_orders(fan_id: FanAuth, platform: PlatformDep) -> list[dict[str, Any]]:
    return [order_view(o) for o in await platform.fans.orders_of(fan_id)]


@router.get("/me/notifications", tags=["fan"])
async def my_notifications(
    fan_id: FanAuth, platform: PlatformDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    """The fan's notifications, newest first (order confirmed, ship date moved, shipped,
    refunded, payment declined)."""
    return [notification_view(n) for n in await platform.fans.notifications(fan_id, limit)]


@router.get("/payments", tags=["fan"])
async def payment_provider(platform: PlatformDep) -> dict[str, Any]:
    """The live payment provider: its name, the `method`s it takes, and whether the fan
    pays on its own page (`hosted`: no token; follow the payment's `redirect_url`)."""
    provider = platform.engine.checkout.provider
    return {
        "provider": provider.name,
        "methods": sorted(provider.methods),
        "hosted": provider.hosted,
    }


@router.post(
    "/payments/webhooks/{provider}",
    tags=["payment provider"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},  # test, Stripe
                "application/x-www-form-urlencoded": {  # Mollie: id=tr_...
                    "schema": {"type": "object", "properties": {"id": {"type": "string"}}}
                },
            },
        }
    },
    responses={400: {"description": "`webhook_rejected`: not validly signed, or not understood"}},
)
async def payment_webhook(provider: str, request: Request, platform: PlatformDep) -> dict[str, Any]:
    """Events from the payment provider: `test` signs with `Soldout-Signature`, Stripe
    with `Stripe-Signature` (checked by its SDK); Mollie posts only a payment id, which
    soldout looks up at Mollie. Replayed and out-of-order events are answered 200 and
    change nothing; a forged one is refused (400 `webhook_rejected`)."""
    if provider != platform.engine.checkout.provider.name:
        raise NotFound("payment provider")
    result = await platform.engine.checkout.webhook(await request.body(), request.headers)
    return {"received": True, "result": result}
