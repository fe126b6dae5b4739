"""The fan's own account: claims waiting for payment, orders, reservations, messages, the
shipping address, a download of their data, and erasing the account."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soldout import i18n
from soldout.api import routes_me
from soldout.api.views import order_view
from soldout.domain.addresses import COUNTRIES
from soldout.domain.errors import Conflict, InvalidInput, RateLimited
from soldout.engine.book import LaunchBook
from soldout.engine.draws import RESERVED_KEY_PREFIX
from soldout.i18n import gettext as _
from soldout.services import Platform
from soldout.web import FAN_COOKIE
from soldout.web.store_common import (
    base_url,
    browser_zone,
    error_page,
    fan_id_of,
    friendly,
    needs_sign_in,
    platform_of,
    read_form,
    refused,
    render,
    safe_next,
    same_origin,
    sku_name,
    speaker_of,
)

__all__ = ["ADDRESS_FIELDS", "address_problem", "countries", "router"]

router = APIRouter(include_in_schema=False)
ADDRESS_FIELDS = ("name", "line1", "line2", "postal_code", "city", "region", "country", "phone")


def countries(request: Request) -> list[tuple[str, str]]:
    """Every country, named and sorted in the page's language."""
    speaker = speaker_of(request)
    return sorted(((c, speaker.country(c)) for c in COUNTRIES), key=lambda pair: pair[1].casefold())


@router.get("/me")
@friendly
async def me_page(request: Request) -> Response:
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    fan = await platform.store.fans.get(fan_id)
    if fan is None or fan.is_erased:
        return needs_sign_in(request)
    zone = browser_zone(request)
    if zone is not None and zone != fan.time_zone:
        await platform.fans.adopt_browser_zone(fan_id, zone)
        fan = await platform.fans.fan(fan_id)
    books = _books(platform)
    held = [
        {
            "claim": c,
            "title": books[c.launch_id].launch.title,
            "sku": _sku_name(books, c.launch_id, c.sku),
            "drawn": c.idempotency_key.startswith(RESERVED_KEY_PREFIX),
        }
        for c in platform.fans.held_claims(fan_id)
    ]
    orders = [
        {
            "order": o,
            "view": order_view(o),
            "title": books[o.launch_id].launch.title,
            "sku": _sku_name(books, o.launch_id, o.sku),
        }
        for o in await platform.fans.orders_of(fan_id)
    ]
    now = platform.clock.now()
    entries = []
    for book in books.values():
        reservation = book.reservations.get(fan_id)
        if reservation is None or book.launch.rehearsal is not None:
            continue
        entries.append(
            {
                "book": book,
                "status": book.status(now).value,
                "sku": _sku_name(books, book.launch.id, reservation.sku)
                if reservation.sku
                else None,
                "backup": platform.engine.draws.backup_place(book, fan_id)
                if book.launch.drawn_at is not None
                else None,
            }
        )
    return await render(
        request,
        "store/me.html",
        fan=fan,
        standing=platform.referrals.standing(fan_id),
        referral_link=f"{base_url(request)}/join?ref={fan.referral_code}",
        held=held,
        orders=orders,
        entries=entries,
        **_named(books),
        notifications=await platform.fans.notifications(fan_id, 50),
        device_zone=zone,
        address_lines=fan.shipping.lines(speaker_of(request).locale) if fan.shipping else [],
    )


def _sku_name(books: dict[str, LaunchBook], launch_id: str, code: str) -> str:
    book = books.get(launch_id)
    return code if book is None else sku_name(book, code)


# -- the shipping address ----------------------------------------------------------------


@router.get("/me/address")
@friendly
async def address_form(request: Request, next: str = "") -> Response:
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    fan = await platform.fans.fan(fan_id)
    value = fan.shipping.as_dict() if fan.shipping else {"name": fan.name}
    return await render(
        request,
        "store/address.html",
        value=value,
        countries=countries(request),
        next=safe_next(next or "/me"),
    )


async def _posting_fan(request: Request) -> str | Response:
    """The signed-in fan posting one of our own forms, or the page that says why not."""
    if not same_origin(request):
        return await refused(request)
    fan_id = fan_id_of(request)
    return needs_sign_in(request) if fan_id is None else fan_id


@router.post("/me/address")
@friendly
async def save_address(request: Request) -> Response:
    fan_id = await _posting_fan(request)
    if isinstance(fan_id, Response):
        return fan_id
    platform = platform_of(request)
    fields = await read_form(request)
    raw = {k: fields.get(k, "") for k in ADDRESS_FIELDS}
    try:
        await platform.fans.set_shipping(fan_id, raw)
    except InvalidInput as error:
        with i18n.speaking(speaker_of(request)):
            problem = address_problem(error)
        return await render(
            request,
            "store/address.html",
            422,
            value=raw,
            countries=countries(request),
            next=safe_next(fields.get("next")),
            problem=problem,
            problem_field=(error.field or "").removeprefix("shipping."),
        )
    return RedirectResponse(safe_next(fields.get("next")), status_code=303)


def address_problem(error: InvalidInput) -> str:
    """A wrong address in words (the domain's message names the rule in English)."""
    field = (error.field or "").removeprefix("shipping.")
    words = {
        "name": _("Please enter the name the parcel is addressed to."),
        "line1": _("Please enter the street and number."),
        "city": _("Please enter the city."),
        "country": _("Please choose the country."),
        "region": _("Please enter the state or province: couriers need it in this country."),
        "postal_code": _("This postal code does not look right for the country chosen."),
        "phone": _(
            "Please enter a phone number the courier can call (with the country code if"
            " it is not in the country chosen)."
        ),
    }
    return words.get(field, error.message)


# -- data and erasure ----------------------------------------------------------------------


@router.get("/me/data")
@friendly
async def my_data(request: Request) -> Response:
    """The fan's data as a JSON download: the same document as `GET /api/v1/me/data`."""
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    answer = Response()
    try:
        document = await routes_me.my_data(fan_id, platform, answer)
    except RateLimited as error:
        with i18n.speaking(speaker_of(request)):
            title = _("One moment")
            text = _("Your data was prepared moments ago. Try again in a few seconds.")
        page = await error_page(request, 429, title, text)
        page.headers["retry-after"] = str(error.retry_after)
        return page
    kept = {k: v for k, v in answer.headers.items() if k not in ("content-length", "content-type")}
    return Response(  # (the route's own headers: the download's name, no caching)
        orjson.dumps(document, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers=kept,
    )


@router.post("/me/time-zone")
@friendly
async def use_this_zone(request: Request) -> Response:
    """The fan's e-mails give times in the zone this browser reports, from now on."""
    fan_id = await _posting_fan(request)
    if isinstance(fan_id, Response):
        return fan_id
    await platform_of(request).fans.set_language(fan_id, None, browser_zone(request))
    return RedirectResponse("/me#zone", status_code=303)


@router.post("/me/signout-everywhere")
@friendly
async def sign_out_everywhere(request: Request) -> Response:
    """Every browser session of the fan ends and every bearer token stops working."""
    fan_id = await _posting_fan(request)
    if isinstance(fan_id, Response):
        return fan_id
    await platform_of(request).sessions.sign_out_fan_everywhere(fan_id)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(FAN_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/me/delete")
@friendly
async def delete_form(request: Request) -> Response:
    platform = platform_of(request)
    fan_id = fan_id_of(request)
    if fan_id is None:
        return needs_sign_in(request)
    fan = await platform.fans.fan(fan_id)
    waiting = [o for o in await platform.fans.orders_of(fan_id) if o.in_queue]
    return await render(
        request,
        "store/delete.html",
        fan=fan,
        waiting=waiting,
        problem=None,
        **_named(_books(platform)),
    )


def _books(platform: Platform) -> dict[str, LaunchBook]:
    return {b.launch.id: b for b in platform.engine.books()}


def _named(books: dict[str, LaunchBook]) -> dict[str, Any]:
    """What names a claim or an order on a page: its launch's title and its SKU's name."""
    return {
        "titles": {k: b.launch.title for k, b in books.items()},
        "sku_label": lambda launch_id, code: _sku_name(books, launch_id, code or ""),
    }


@router.post("/me/delete")
@friendly
async def delete_account(request: Request) -> Response:
    fan_id = await _posting_fan(request)
    if isinstance(fan_id, Response):
        return fan_id
    platform = platform_of(request)
    fields = await read_form(request)
    fan = await platform.fans.fan(fan_id)
    if fields.get("confirm") != "erase":
        with i18n.speaking(speaker_of(request)):
            problem = _("Tick the box to confirm: this cannot be undone.")
        return await render(request, "store/delete.html", 422, fan=fan, waiting=[], problem=problem)
    try:
        await platform.fans.erase(fan_id)
    except Conflict:
        waiting = [o for o in await platform.fans.orders_of(fan_id) if o.in_queue]
        with i18n.speaking(speaker_of(request)):
            problem = _("Some orders have not shipped yet and need your address.")
        return await render(
            request,
            "store/delete.html",
            409,
            fan=fan,
            waiting=waiting,
            problem=problem,
            **_named(_books(platform)),
        )
    response = await render(request, "store/deleted.html", fan_id=None)
    response.delete_cookie(FAN_COOKIE, path="/", httponly=True, samesite="lax")
    return response
