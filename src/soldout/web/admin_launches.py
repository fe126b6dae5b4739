"""The admin's launch pages: the list (real launches, and rehearsals apart), the new-launch
form, one launch's page with its changes (publish, pause, resume, extend, cancel) and its
priority codes, and the removal of a rehearsal run.

A launch made here starts as a draft (fans cannot see it until the maker publishes it),
and with the fair race unless the maker chooses the fast one knowingly."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api import routes_admin
from soldout.api.deps import platform_of
from soldout.domain.duplicates import DuplicateRule
from soldout.domain.errors import DomainError, InvalidInput, NotFound
from soldout.domain.launches import (
    FAIR_POW_BITS,
    FAIR_SHUFFLE_SECONDS,
    Launch,
    LaunchRules,
    Mode,
    Race,
    rules_for,
)
from soldout.domain.products import Product
from soldout.engine.book import LaunchBook
from soldout.services import Platform
from soldout.services.board_news import Demand
from soldout.web.admin_forms import Form, read_form, signed_in
from soldout.web.admin_launch_changes import launch_change
from soldout.web.admin_render import guarded, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


def _summary(book: LaunchBook, now: datetime) -> dict[str, Any]:
    stock = book.stock.values()
    return {
        "book": book,
        "status": book.status(now).value,
        "batch": sum(s.batch for s in stock),
        "paid": sum(s.paid for s in stock),
        "held": sum(s.held for s in stock),
        "available": sum(s.available for s in stock),
        "visible": _visibility(book.launch),
    }


def _visibility(launch: Launch) -> str:
    """What fans see of the launch: `public` (its storefront page is up), `draft` (not
    yet), `rehearsal` (never), `cancelled`."""
    if launch.rehearsal is not None:
        return "rehearsal"
    if launch.cancelled_at is not None:
        return "cancelled"
    return "public" if launch.published else "draft"


@router.get("/launches")
async def launches(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return render(request, "admin/launches.html", _launches(platform_of(request), None))

    return await guarded(request, handle)


def _launches(platform: Platform, error: DomainError | None) -> dict[str, Any]:
    """Real launches, newest opening first; each rehearsal run apart, with its launches."""
    now = platform.clock.now()
    books = sorted(platform.engine.books(), key=lambda b: b.launch.sale_opens_at, reverse=True)
    rows = [_summary(b, now) for b in books if b.launch.rehearsal is None]
    runs: dict[str, list[dict[str, Any]]] = {}
    for book in books:
        if book.launch.rehearsal is not None:
            runs.setdefault(book.launch.rehearsal, []).append(_summary(book, now))
    fans = platform.engine.rehearsals.runs()
    rehearsals = [
        {"run": run, "rows": runs.get(run, []), "fans": fans.get(run, 0)}
        for run in sorted(set(runs) | set(fans))
    ]
    return {"rows": rows, "rehearsals": rehearsals, "error": error}


@router.post("/rehearsals/{run}/remove")
async def remove_rehearsal(request: Request, run: str) -> Response:
    """Remove a rehearsal run whole, as `DELETE /api/v1/rehearsals/{run}` does."""

    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        try:
            if form.get("confirm") != "remove":
                raise InvalidInput("tick the box to confirm the removal", field="confirm")
            removal = await platform.rehearsals.remove(run)
        except DomainError as exc:
            context = _launches(platform, exc)
            return render(request, "admin/launches.html", context, status=400)
        detail = removal.counts()
        await platform.audit(form.actor, "rehearsal.remove", run, detail)
        return redirect("/admin/launches", done="rehearsal_removed")

    return await guarded(request, handle)


@router.get("/launches/new")
async def new_launch(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return render(request, "admin/launch_new.html", await _launch_context(request, {}, None))

    return await guarded(request, handle)


async def _launch_context(
    request: Request, fields: Mapping[str, list[str]], error: DomainError | None
) -> dict[str, Any]:
    platform = platform_of(request)
    # A rehearsal's product is sold by its rehearsal only (see `Catalog.create_launch`).
    products = [p for p in await platform.store.products.all() if p.rehearsal is None]
    chosen = request.query_params.get("product_id") or (fields.get("product_id") or [""])[0]
    product = next((p for p in products if p.id == chosen), None)
    value = {k: v[0] for k, v in fields.items() if v}
    demand = await _demand(request, product) if product is not None else None
    if demand is not None and request.query_params.get("use") == "1":
        value |= {f"batch_{sku}": str(n) for sku, n in demand.suggested.items()}
    return {
        "products": products,
        "product": product,
        "demand": demand,
        "value": value,
        "error": error,
        "fair": {"pow": FAIR_POW_BITS, "shuffle": FAIR_SHUFFLE_SECONDS},
    }


async def _demand(request: Request, product: Product) -> Demand:
    """What fans asked for beside the batch: the reservations still waiting, the newest
    SKU poll's answers, and a split of `total` units (the maker decides)."""
    raw = request.query_params.get("total", "")
    total = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else None
    return await platform_of(request).board_news.demand(product, total)


@router.post("/launches")
async def create_launch(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        try:
            book = await _make_launch(platform, form)
        except DomainError as exc:
            context = await _launch_context(request, form.fields, exc)
            return render(request, "admin/launch_new.html", context, status=400)
        return redirect(f"/admin/launches/{book.launch.id}", done="draft")

    return await guarded(request, handle)


async def _make_launch(platform: Platform, form: Form) -> LaunchBook:
    product = await platform.catalog.product(form.get("product_id"))
    title = form.get("title")
    if not title:
        raise InvalidInput("the launch needs a title", field="title")
    opens = form.moment("sale_opens_at", "Sale opens")
    if opens is None:
        raise InvalidInput("give the time the sale opens", field="sale_opens_at")
    batch = {
        s.code: form.integer(f"batch_{s.code}", f"Units of {s.code}", default=0)
        for s in product.skus
    }
    batch = {code: n for code, n in batch.items() if n}
    book = await platform.catalog.create_launch(
        product_id=product.id,
        title=title,
        sale_opens_at=opens,
        rules=_rules(form, sum(batch.values())),
        batch=batch,
        reservations_open_at=form.moment("reservations_open_at", "Reservations open"),
        sale_closes_at=form.moment("sale_closes_at", "Sale closes"),
        published=False,  # a draft until the maker publishes it from the launch's page
    )
    detail = {"title": title, "race": form.get("race", "fair")}
    await platform.audit(form.actor, "launch.create", book.launch.id, detail)
    return book


def _rules(form: Form, units: int) -> LaunchRules:
    """The form's rules: a protection left blank follows the race chosen (fair unless the
    maker picked the fast race), as in the API (`rules_for`)."""
    mode = form.get("mode", "first_come")
    if mode not in ("first_come", "draw"):
        raise InvalidInput("choose first come or draw", field="mode")
    race = form.get("race", "fair")
    if race not in ("fair", "fast"):
        raise InvalidInput("choose the fair race or the fast one", field="race")
    given: dict[str, object] = {}
    if form.get("waiting_room") == "none":
        given["waiting_room_rate"] = None
    elif (rate := form.optional_number("waiting_room_rate", "Waiting room rate")) is not None:
        given["waiting_room_rate"] = rate
    if (burst := form.optional_integer("waiting_room_burst", "Let in at once")) is not None:
        given["waiting_room_burst"] = burst
    shuffle = form.optional_integer("waiting_room_shuffle_seconds", "Shuffle window")
    if shuffle is not None:
        given["waiting_room_shuffle_seconds"] = shuffle
    if (bits := form.optional_integer("pow_difficulty", "Proof of work")) is not None:
        given["pow_difficulty"] = bits or None  # 0: none
    duplicate_rule = form.get("duplicate_rule")
    if duplicate_rule:
        if duplicate_rule not in ("allow", "hold", "cancel"):
            raise InvalidInput("choose allow, hold or cancel", field="duplicate_rule")
        given["duplicate_rule"] = DuplicateRule(duplicate_rule)
    return rules_for(
        Race(race),
        units=units,
        mode=Mode(mode),
        reservation_required=form.get("reservation_required") == "on",
        per_fan_limit=form.integer("per_fan_limit", "Units per fan", default=1),
        payment_window_seconds=form.integer(
            "payment_window_seconds", "Payment window", default=900
        ),
        registered_before=form.moment("registered_before", "Registered before"),
        duplicate_limit=form.integer("duplicate_limit", "Accounts per address", default=2),
        **given,
    )


@router.get("/launches/{launch_id}")
async def launch_page(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return render(request, "admin/launch.html", await _launch_page(request, launch_id, None))

    return await guarded(request, handle)


async def _launch_page(
    request: Request, launch_id: str, error: DomainError | None
) -> dict[str, Any]:
    platform = platform_of(request)
    book = platform.engine.book(launch_id)
    now = platform.clock.now()
    codes = list(book.codes.values())
    live = [c for c in codes if not c.is_spent and not c.is_expired(now)]
    return {
        **_summary(book, now),
        "launch": book.launch,
        "rules": book.launch.rules,
        "room_opens_at": book.launch.rules.room_opens_at(book.launch.sale_opens_at),
        "codes_total": len(codes),
        "codes_live": len(live),
        "codes_redeemed": sum(1 for c in codes if c.is_spent),
        "recent_codes": codes[-20:],
        "unoffered": {code: n for code in book.stock if (n := book.unoffered(code))},
        "margin": await platform.fulfilment.margin(launch_id),
        "error": error,
    }


_LAUNCH_ACTIONS = {"change", "publish", "pause", "resume", "extend", "cancel"}


@router.post("/launches/{launch_id}/{action}")
async def change_launch(request: Request, launch_id: str, action: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        if action not in _LAUNCH_ACTIONS and action != "codes":
            raise NotFound("admin action")
        try:
            if action == "codes":
                await _issue_codes(platform, launch_id, form)
                return redirect(f"/admin/launches/{launch_id}", done="codes")
            audit, detail, changes = launch_change(platform, launch_id, action, form)
            if action == "change" and not detail:  # the form sent back what it showed
                return redirect(f"/admin/launches/{launch_id}", done="unchanged")
            await platform.catalog.change_launch(launch_id, changes)
            await platform.audit(form.actor, audit, launch_id, detail)
        except NotFound:
            raise
        except DomainError as exc:
            context = await _launch_page(request, launch_id, exc)
            return render(request, "admin/launch.html", context, status=400)
        done = {"change": "changed", "publish": "published", "pause": "paused"}
        done |= {"resume": "resumed", "extend": "extended", "cancel": "cancelled"}
        return redirect(f"/admin/launches/{launch_id}", done=done[action])

    return await guarded(request, handle)


async def _issue_codes(platform: Platform, launch_id: str, form: Form) -> None:
    count = form.integer("count", "How many codes")
    sku = form.get("sku") or None
    expires = form.moment("expires_at", "Codes expire")
    await platform.catalog.issue_codes(launch_id, sku, count, expires)
    detail = {"count": count, "sku": sku, "expires_at": expires.isoformat() if expires else None}
    await platform.audit(form.actor, "codes.issue", launch_id, detail)


@router.get("/launches/{launch_id}/codes.csv")
async def codes_csv(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return await routes_admin.export_codes(launch_id, platform_of(request))

    return await guarded(request, handle)
