"""The storefront: the pages a fan uses, server-rendered, with a little JavaScript.

Pages read the platform in memory (the same views the JSON API answers with); everything
that changes something (reserve, buy, pay) is done by the scripts in `static/store/` calling the API
with the fan's cookie and the header `X-Soldout-Web: 1`. Joining, signing in and the
language switcher are in `store_signin.py`; the fan's own account in `store_account.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soldout.api.views import claim_status_view, launch_view, order_view
from soldout.domain import order_history
from soldout.domain.claims import Claim, Order
from soldout.domain.errors import NotFound
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.engine.book import LaunchBook
from soldout.engine.draws import RESERVED_KEY_PREFIX
from soldout.engine.settlement import CANCELLED_ON_PAGE, GIVEN_UP, RELEASED
from soldout.payments import usable_methods
from soldout.services import Platform
from soldout.services.order_records import release_fate, unit_fate
from soldout.web import store_account, store_board, store_look, store_signin, store_zone
from soldout.web.store_common import (
    base_url,
    fan_id_of,
    friendly,
    needs_sign_in,
    platform_of,
    render,
    sku_name,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@dataclass(slots=True)
class Standing:
    """Where a signed-in fan stands in one launch: what the launch page says to them."""

    reserved: bool = False
    entry_sku: str | None = None  # the SKU the fan reserved or entered the draw for
    held: list[Claim] = field(default_factory=list)  # waiting for payment
    drawn: bool = False  # a held claim the draw gave them (won, or passed on as a backup)
    backup: tuple[str, int] | None = None  # (SKU, place) on a drawn launch's backup list
    orders: list[Order] = field(default_factory=list)
    referral_code: str | None = None

    @property
    def live(self) -> bool:
        """What the page says may change within seconds without the fan's doing on it (a
        held claim paid, given back or expired elsewhere; a backup's place moved, or a unit
        passed to them): store/launch.js fetches the block again as it polls. An order changes
        over days: its block is fetched when the page is shown again, not at each poll."""
        return bool(self.held or self.backup)


async def _standing(platform: Platform, book: LaunchBook, fan_id: str | None) -> Standing:
    if fan_id is None:
        return Standing()
    launch_id = book.launch.id
    reservation = book.reservations.get(fan_id)
    held = [c for c in platform.fans.held_claims(fan_id) if c.launch_id == launch_id]
    orders = [o for o in await platform.fans.orders_of(fan_id) if o.launch_id == launch_id]
    fan = await platform.store.fans.get(fan_id)
    return Standing(
        reserved=reservation is not None,
        entry_sku=reservation.sku if reservation else None,
        held=held,
        drawn=any(c.idempotency_key.startswith(RESERVED_KEY_PREFIX) for c in held),
        backup=platform.engine.draws.backup_place(book, fan_id)
        if book.launch.drawn_at is not None and not held
        else None,
        orders=orders,
        referral_code=fan.referral_code if fan else None,
    )


# -- pages ---------------------------------------------------------------------------


@router.get("/")
@friendly
async def home(request: Request) -> Response:
    platform = platform_of(request)
    now = platform.clock.now()
    books = [
        b for b in platform.engine.books() if b.launch.published and b.launch.rehearsal is None
    ]
    books.sort(key=lambda b: b.launch.sale_opens_at, reverse=True)
    cards = [{"view": launch_view(b, now), "hero": store_look.hero(b.product)} for b in books]
    return await render(request, "store/home.html", cards=cards)


@router.get("/launches/{launch_id}")
@friendly
async def launch_page(launch_id: str, request: Request) -> Response:
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    # published, and a rehearsal's launch only for that rehearsal's fans (as the API)
    book = platform.engine.public_book(launch_id, fan_id)
    view = launch_view(book, platform.clock.now(), platform.engine.orders)
    standing = await _standing(platform, book, fan_id)
    base = base_url(request)
    page_url = f"{base}/launches/{book.launch.id}"
    share_url = (
        f"{base}/join?ref={standing.referral_code}&next=/launches/{book.launch.id}"
        if standing.referral_code
        else page_url
    )
    product = book.product
    return await render(
        request,
        "store/launch.html",
        launch=view,
        product=product,
        story=store_look.story(product.description),
        summary=store_look.summary(product.description),
        hero=store_look.hero(product),
        gallery=store_look.gallery(product),
        og_image=store_look.og_image(product, base),
        you=standing,
        sku_names={s.code: s.name for s in product.skus},
        page_url=page_url,
        share_url=share_url,
        board=_board_links(platform, product.id),
    )


@router.get("/launches/{launch_id}/you")
@friendly
async def launch_you(launch_id: str, request: Request) -> Response:
    """The launch page's block of where the fan stands, alone: store/launch.js swaps it in as it
    polls, so a winner who gave the unit back elsewhere no longer reads "You won" (nothing
    for a browser signed in as nobody)."""
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return Response(status_code=204, headers={"cache-control": "no-store"})
    book = platform.engine.public_book(launch_id, fan_id)
    return await render(
        request,
        "store/_you.html",
        launch=launch_view(book, platform.clock.now(), platform.engine.orders),
        you=await _standing(platform, book, fan_id),
        sku_names={s.code: s.name for s in book.product.skus},
    )


def _board_links(platform: Platform, product_id: str) -> dict[str, object]:
    """What the launch page says of the product's ideas board: how many ideas, the latest
    release, the open polls."""
    state, now = platform.board.state, platform.clock.now()
    ideas = sum(1 for i in state.ideas.values() if i.product_id == product_id and not i.hidden)
    releases = state.releases_of(product_id)
    polls = [p for p in state.polls_of(product_id) if p.is_open(now)]
    return {"ideas": ideas, "release": releases[0] if releases else None, "polls": polls}


@router.get("/claims/{claim_id}")
@friendly
async def claim_page(claim_id: str, request: Request) -> Response:
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    claim = await platform.engine.claim_of(fan_id, claim_id)
    payments = platform.engine.checkout.payments_of(claim.id)
    wanted = request.query_params.get("payment")
    attempt = next((p for p in payments if p.id == wanted), None)  # back from its page
    view = claim_status_view(
        claim,
        platform.engine.order_for(claim.id),
        payments[-1] if payments else None,
        platform.engine.orders.estimate(claim) if claim.is_held else None,
    )
    book = platform.engine.book(claim.launch_id)
    fan = await platform.fans.fan(fan_id)
    return await render(
        request,
        "store/claim.html",
        claim=view,
        claim_obj=claim,
        title=book.launch.title,
        sku_name=sku_name(book, claim.sku),
        hero=store_look.hero(book.product),
        shipping=fan.shipping,
        fan_name=fan.name,
        countries=store_account.countries(request),
        server_time=platform.clock.now().isoformat(),
        drawn=claim.idempotency_key.startswith(RESERVED_KEY_PREFIX),
        # where the unit goes if the fan gives it back: on sale, down a draw's backup list
        unit_goes=release_fate(book, claim.sku, platform.clock.now()).value,
        provider=platform.engine.checkout.provider,
        methods=usable_methods(platform.engine.checkout.provider.methods, claim.currency),
        attempt=attempt,
        attempt_said=_attempt_said(attempt),
        paying=bool(payments) and payments[-1].state is PaymentState.PENDING,
    )


def _attempt_said(attempt: PaymentRecord | None) -> str | None:
    """What became of the attempt the fan is back from, as the page says it."""
    if attempt is None:
        return None
    if attempt.reason in (CANCELLED_ON_PAGE, GIVEN_UP):
        return "cancelled"
    if attempt.state is PaymentState.REFUNDED and (attempt.reason or "").startswith(RELEASED):
        return "released"  # the money never left: a hold released, not a refund
    return attempt.state.value


@router.get("/claims/{claim_id}/back")
@friendly
async def back_from_payment(claim_id: str, request: Request) -> Response:
    """Where a hosted provider's page sends the fan: ask the provider how the payment went
    (not waiting for its webhook), then show the order, or the claim with the outcome."""
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    claim = await platform.engine.claim_of(fan_id, claim_id)
    payment_id = request.query_params.get("payment", "")
    if payment_id not in {p.id for p in platform.engine.checkout.payments_of(claim.id)}:
        raise NotFound("payment")
    # the fan chose to leave the provider's page: believed only from the address soldout
    # gave it (sealed); a link made up elsewhere just asks the provider how it went
    seal = request.query_params.get("seal", "")
    cancelled = request.query_params.get("cancelled") == "1" and platform.tokens.sealed(
        f"back:{payment_id}", seal
    )
    # Shielded: a fan who leaves mid-answer does not leave the settling half done.
    await asyncio.shield(platform.engine.checkout.settle(fan_id, payment_id, cancelled=cancelled))
    order = platform.engine.order_for(claim.id)
    if order is not None:
        return RedirectResponse(f"/orders/{order.id}?paid=1", status_code=303)
    return RedirectResponse(f"/claims/{claim.id}?payment={payment_id}", status_code=303)


@router.get("/orders/{order_id}")
@friendly
async def order_page(order_id: str, request: Request) -> Response:
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    order = await platform.fans.order(fan_id, order_id)
    events = await platform.fans.history(order)
    view = order_view(order, events)
    book = platform.engine.book(order.launch_id)
    return await render(
        request,
        "store/order.html",
        order=view,
        order_obj=order,
        history=order_history.read(events),  # each line as it was then, and what it changed
        title=book.launch.title,
        sku_name=sku_name(book, order.sku),
        hero=store_look.hero(book.product),
        cancellable=order.in_queue,
        # where its unit would go: on sale, down a draw's backup list, or nowhere now
        unit_goes=unit_fate(order, book, platform.clock.now()).value,
        just_paid=request.query_params.get("paid") == "1",  # back from a payment page
    )


router.include_router(store_signin.router)
router.include_router(store_account.router)
router.include_router(store_board.router)
router.include_router(store_zone.router)
