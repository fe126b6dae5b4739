"""The maker's routes: products, launches, stats, priority codes. Admin token only."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import PlainTextResponse

from soldout.api.deps import Actor, AdminAuth, platform_dep
from soldout.api.openapi import CSV, NO_SUCH_PRODUCT, DocumentedRoute
from soldout.api.schemas import CodesIn, LaunchIn, LaunchPatch, ProductIn, ProductPatch, SkuIn
from soldout.api.views import claim_status_view, code_view, launch_view, product_view, stats_view
from soldout.domain.claims import ClaimState
from soldout.domain.launches import DuplicateRule, LaunchRules, Mode, Race, rules_for
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import Sku, given_cost
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges, ProductChanges, product_edit_detail
from soldout.services.media import MAX_UPLOAD_BYTES

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    dependencies=[AdminAuth],
    tags=["maker (admin token)"],
    route_class=DocumentedRoute,
)
PlatformDep = Annotated[Platform, Depends(platform_dep)]
# The codes CSV: `sku` is what the code is for ("any SKU" when the fan chooses);
# `redeemed_sku` what it bought.
CODES_CSV_HEADER = ("code", "sku", "any_sku", "expires_at", "state", "granted_to", "redeemed_sku")
ANY_SKU = "any SKU"


def _skus(given: list[SkuIn]) -> tuple[Sku, ...]:
    skus = []
    for i, s in enumerate(given):
        currency = validate_currency(s.currency, field=f"skus[{i}].currency")
        skus.append(Sku(s.code, s.name, Money(s.price, currency), given_cost(s.cost, currency)))
    return tuple(skus)


@router.post("/products", status_code=201)
async def create_product(body: ProductIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    product = await platform.catalog.create_product(
        body.name,
        body.description,
        list(_skus(body.skus)),
        tuple((s.label, s.value) for s in body.specs),
        tuple(body.images),
    )
    await platform.audit(actor, "product.create", product.id, {"name": body.name})
    return product_view(product)


@router.patch("/products/{product_id}")
async def change_product(
    product_id: str, body: ProductPatch, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Change a product; its launch pages show it at once. Prices stay integers of minor
    units here (the admin's forms read decimals)."""
    before = await platform.catalog.product(product_id)
    changes = ProductChanges(
        name=body.name,
        description=body.description,
        specs=None if body.specs is None else tuple((s.label, s.value) for s in body.specs),
        skus=None if body.skus is None else _skus(body.skus),
        images=None if body.images is None else tuple(body.images),
    )
    product = await platform.catalog.change_product(product_id, changes)
    await platform.audit(actor, "product.change", product_id, product_edit_detail(before, product))
    return product_view(product)


@router.post("/products/{product_id}/images", status_code=201)
async def upload_image(
    product_id: str,
    image: Annotated[UploadFile, File(description="JPEG, PNG, WebP or GIF, at most 15 MB")],
    platform: PlatformDep,
    actor: Actor,
    response: Response,
) -> dict[str, Any]:
    """Add an image to the product (last; the first is the hero). It is checked, turned
    upright, stripped of its metadata (a photo's GPS position) and resized; the answer is
    the product, and `Location` the new image."""
    data = await image.read(MAX_UPLOAD_BYTES + 1)
    product, media_id = await platform.catalog.add_product_image(product_id, data)
    await platform.audit(actor, "product.image.add", product_id, {"image": media_id})
    response.headers["location"] = f"/media/{media_id}"
    return product_view(product)


@router.delete("/products/{product_id}/images/{media_id}")
async def remove_image(
    product_id: str, media_id: str, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    product = await platform.catalog.remove_product_image(product_id, media_id)
    await platform.audit(actor, "product.image.remove", product_id, {"image": media_id})
    return product_view(product)


@router.get("/products")
async def list_products(platform: PlatformDep) -> list[dict[str, Any]]:
    return [product_view(p) for p in await platform.store.products.all()]


@router.get("/products/{product_id}")
async def get_product(product_id: str, platform: PlatformDep) -> dict[str, Any]:
    return product_view(await platform.catalog.product(product_id))


@router.post("/launches", status_code=201, responses=NO_SUCH_PRODUCT)
async def create_launch(body: LaunchIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """A new launch, fair by default (see `race`); the answer shows the rules it got."""
    return await add_launch(body, platform, actor)


def launch_rules(body: LaunchIn) -> LaunchRules:
    """The launch's rules: what the body sets, each protection left out from its `race`."""
    given = body.protections_given()
    if "duplicate_rule" in given:
        given["duplicate_rule"] = DuplicateRule(str(given["duplicate_rule"]))
    units = sum(body.batch.values())
    return rules_for(
        Race(body.race),
        units=units,
        mode=Mode(body.mode),
        reservation_required=body.reservation_required,
        per_fan_limit=body.per_fan_limit,
        payment_window_seconds=body.payment_window_seconds,
        registered_before=body.registered_before,
        duplicate_limit=body.duplicate_limit,
        **given,
    )


async def add_launch(
    body: LaunchIn, platform: Platform, actor: str, rehearsal: str | None = None
) -> dict[str, Any]:
    book = await platform.catalog.create_launch(
        product_id=body.product_id,
        title=body.title,
        sale_opens_at=body.sale_opens_at,
        rules=launch_rules(body),
        batch=body.batch,
        reservations_open_at=body.reservations_open_at,
        sale_closes_at=body.sale_closes_at,
        published=not body.draft,
        rehearsal=rehearsal,
    )
    detail: dict[str, Any] = {"title": body.title, "race": body.race}
    if rehearsal is not None:
        detail["rehearsal"] = rehearsal
    await platform.audit(actor, "launch.create", book.launch.id, detail)
    return launch_view(book, platform.clock.now(), platform.engine.orders)


@router.patch("/launches/{launch_id}")
async def change_launch(
    launch_id: str, body: LaunchPatch, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Change times (extend the close; a close in the past ends the sale now), grow the
    batch, publish, pause or resume the sale, or cancel the launch (every hold released,
    fans told). Each change is audited. Once fans hold or bought units, the opening cannot
    move: 422 `invalid` on `sale_opens_at` (pause the sale instead)."""
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
        paused=body.paused,
        rules=_rule_changes(body),
        cancel=body.cancel,
        **optional,
    )
    book = await platform.catalog.change_launch(launch_id, changes)
    asked = body.model_dump(mode="json", exclude_unset=True)
    await platform.audit(actor, _launch_action(asked), launch_id, asked)
    return launch_view(book, platform.clock.now(), platform.engine.orders)


def _rule_changes(body: LaunchPatch) -> dict[str, object]:
    given = body.model_fields_set
    rules: dict[str, object] = {}
    if "pow_difficulty" in given:
        rules["pow_difficulty"] = body.pow_difficulty or None
    if body.duplicate_rule is not None:
        rules["duplicate_rule"] = DuplicateRule(body.duplicate_rule)
    if body.duplicate_limit is not None:
        rules["duplicate_limit"] = body.duplicate_limit
    return rules


def _launch_action(asked: dict[str, Any]) -> str:
    if asked.get("cancel"):
        return "launch.cancel"
    if "paused" in asked:
        return "launch.pause" if asked["paused"] else "launch.resume"
    if "sale_closes_at" in asked:
        return "launch.extend" if len(asked) == 1 else "launch.change"
    return "launch.change"


@router.get("/launches/{launch_id}/stats")
async def launch_stats(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    """The launch's counts per SKU and claims per state. `available` counts every unsold
    unit (neither set aside for a code, held nor paid); `open` those fans can still claim,
    `unoffered` those none can (a drawn launch's unit that no backup waits for: the maker's
    to carry to a later launch), so `available` = `open` + `unoffered`. `status` is
    `sold_out` when no SKU has an `open` unit, even with some `available`."""
    book = platform.engine.book(launch_id)
    # every state, zero or not: the same keys whether the book was counted claim by claim
    # or, archived, from the store's tally
    claims = {state.value: book.claim_states.get(state, 0) for state in ClaimState}
    stats = stats_view(book, claims, platform.clock.now())
    room = platform.gate.room_size(book)
    stats["waiting_room"] = (
        None
        if room is None
        else {
            "waiting": room.waiting,
            "admitted": room.admitted,
            "admitted_total": room.admitted_total,
            "abandoned_total": room.abandoned_total,
        }
    )
    return stats


@router.get("/launches/{launch_id}/duplicates")
async def duplicate_buyers(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    """Fans of this launch (reservations, claims) who share an address or phone with more
    accounts than the launch allows, grouped; what the launch's rule does with them."""
    book = platform.engine.book(launch_id)
    claims = await platform.engine.claims_of_launch(launch_id)
    fans = {*book.reservations, *(c.fan_id for c in claims)}
    flagged = platform.gate.flagged_fans(book, sorted(fans))
    groups = {frozenset(platform.gate.group_of(book, f)) for f in flagged}
    return {
        "launch_id": launch_id,
        "rule": book.launch.rules.duplicate_rule.value,
        "limit": book.launch.rules.duplicate_limit,
        "groups": sorted(sorted(g) for g in groups),
    }


@router.post(
    "/launches/{launch_id}/priority-codes",
    status_code=201,
    responses={409: {"description": "`insufficient_stock`: fewer units open than codes"}},
)
async def issue_codes(
    launch_id: str, body: CodesIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Set units aside and make one code per unit (for a SKU, or any SKU without `sku`)."""
    codes = await platform.catalog.issue_codes(launch_id, body.sku, body.count, body.expires_at)
    await platform.audit(
        actor,
        "codes.issue",
        launch_id,
        {"count": body.count, "sku": body.sku, "expires_at": _iso(body.expires_at)},
    )
    now = platform.clock.now()
    return {"codes": [code_view(c, now) for c in codes]}


@router.get("/launches/{launch_id}/priority-codes")
async def list_codes(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    """Every code of the launch: `sku` is the SKU it is for, null for any SKU (`any_sku`);
    `unit_sku` the SKU of the unit set aside for it now, or that it bought once redeemed."""
    book = platform.engine.book(launch_id)
    now = platform.clock.now()
    return {"codes": [code_view(c, now) for c in book.codes.values()]}


@router.get("/launches/{launch_id}/priority-codes.csv", response_class=Response, responses=CSV)
async def export_codes(launch_id: str, platform: PlatformDep) -> PlainTextResponse:
    """The launch's codes as CSV, to hand out (a mail merge, a printer): `sku` is the SKU a
    code is for, or "any SKU"; `redeemed_sku` the SKU a redeemed code bought."""
    book = platform.engine.book(launch_id)
    now = platform.clock.now()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CODES_CSV_HEADER)
    for c in book.codes.values():
        state = "redeemed" if c.is_spent else "expired" if c.is_expired(now) else "live"
        for_sku = c.for_sku or ANY_SKU  # what a mail merge prints: never where its unit sits
        expires = _iso(c.expires_at) or ""
        row = [c.code, for_sku, int(c.any_sku), expires, state, c.granted_to or ""]
        writer.writerow([*row, c.redeemed_sku or ""])
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="codes-{launch_id}.csv"'},
    )


@router.get("/audit")
async def audit_log(
    platform: PlatformDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Every admin action, newest first: who, when, what."""
    return [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": e.detail,
        }
        for e in await platform.store.audit.recent(limit)
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@router.get("/launches/{launch_id}/claims")
async def launch_claims(
    launch_id: str,
    platform: PlatformDep,
    after: Annotated[int, Query(ge=0, description="`next` of the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Every claim of the launch in the order they were made (held, paid, expired,
    cancelled), a page at a time: the record a launch report is drawn from."""
    platform.engine.book(launch_id)
    claims = sorted(
        await platform.engine.claims_of_launch(launch_id), key=lambda c: (c.created_at, c.id)
    )
    page = claims[after : after + limit]
    orders = {o.claim_id: o for o in await platform.engine.orders_of_launch(launch_id)}
    return {
        "claims": [
            {
                **claim_status_view(c, orders.get(c.id)),
                "fan_id": c.fan_id,
            }
            for c in page
        ],
        "next": after + limit if after + limit < len(claims) else None,
    }
