"""The shop's look, set by the maker: name, tagline, accent colour and logo (from which
the favicons are made); the address fans write to and the admin's time zone. Served at
/admin/shop; `admin_products.router` carries it."""

from __future__ import annotations

import zoneinfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.deps import platform_of
from soldout.api.errors import status_for
from soldout.domain.errors import DomainError, InvalidInput
from soldout.domain.shop import Shop
from soldout.services.shop import ShopSettings, look_version
from soldout.web.admin_forms import Form, signed_in
from soldout.web.admin_render import guarded, redirect, render
from soldout.web.admin_uploads import read_upload_form

__all__ = ["router"]

# the zones offered on the Shop page (a name typed outside the list is checked all the same)
_ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/shop")
async def shop_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        platform = platform_of(request)
        shop = await ShopSettings(platform.store, platform.clock).get()
        value = {
            "name": shop.name,
            "tagline": shop.tagline,
            "accent": shop.accent,
            "contact_email": shop.contact_email or "",
            "time_zone": shop.time_zone,
        }
        return _page(request, shop, value)

    return await guarded(request, handle)


@router.post("/shop")
async def save_shop(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_upload_form(request)
        platform = platform_of(request)
        settings = ShopSettings(platform.store, platform.clock)
        logos = form.files_of("logo")
        try:
            if len(logos) > 1:
                raise InvalidInput("choose one logo", field="logo")
            before, after = await settings.change(
                name=form.get("name"),
                tagline=form.get("tagline"),
                accent=form.get("accent"),
                contact_email=_given(form, "contact_email"),
                time_zone=_given(form, "time_zone"),
                logo=logos[0].data if logos else None,
                remove_logo=bool(form.get("remove_logo")),
            )
        except DomainError as exc:
            if exc.field == "logo" and logos:
                exc.message = f"{logos[0].filename}: {exc.message}"
            value = {k: v[0] for k, v in form.fields.items() if v and k != "csrf"}
            # 422 for a value the shop refuses (the API's status for `InvalidInput`)
            return _page(request, await settings.get(), value, exc, status_for(exc))
        changed = {
            k: getattr(after, k)
            for k in ("name", "tagline", "accent", "logo", "contact_email", "time_zone")
            if getattr(before, k) != getattr(after, k)
        }
        await platform.audit(form.actor, "shop.change", "shop", changed)
        return redirect("/admin/shop", done="shop")

    return await guarded(request, handle)


def _given(form: Form, name: str) -> str | None:
    """A field the form sent, or None for one it did not (kept as it is)."""
    return form.get(name) if name in form.fields else None


def _page(
    request: Request,
    shop: Shop,
    value: dict[str, str],
    error: DomainError | None = None,
    status: int = 200,
) -> Response:
    context = {
        "shop": shop,
        "value": value,
        "error": error,
        "version": look_version(shop),
        "zones": _ZONES,
        "done": "Shop saved." if request.query_params.get("done") == "shop" else None,
    }
    return render(request, "admin/shop.html", context, status=status)
