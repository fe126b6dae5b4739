"""The maker's products: the list, and one form to make or edit a product (name, a
Markdown description with its preview, specs rows, any number of SKUs with prices typed as
decimals, images). The shop's look (`admin_shop`) is carried by this module's router.

Rows are numbered in the form (`sku3_price`); the numbers only pair a row's fields, gaps
are fine, so the page's script adds and removes rows without renumbering. Without the
script, "More rows" posts the form back with blank rows added (nothing is saved then)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from soldout.api.deps import platform_of
from soldout.domain.errors import DomainError, InvalidInput
from soldout.domain.launches import Launch
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import MAX_IMAGES, MAX_SKUS, MAX_SPECS, Product, Sku
from soldout.services import Platform
from soldout.services.catalog import ProductChanges, product_edit_detail
from soldout.services.media import MediaLibrary, image_urls
from soldout.web import admin_shop
from soldout.web.admin_forms import read_form, signed_in
from soldout.web.admin_render import guarded, harden, redirect, render
from soldout.web.admin_uploads import UploadForm, read_upload_form
from soldout.web.rich_text import markdown_html

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(admin_shop.router)

BLANK_SKUS = 3  # blank SKU rows a new product's form starts with
MORE_ROWS = 5  # blank rows "More rows" adds without the script
DONE = {"saved": "Product saved. Its launch pages show the change."}
_ROW = re.compile(r"^(sku|spec|image)(\d{1,4})_")


@dataclass(frozen=True, slots=True)
class Draft:
    """What the form asks for, read and checked row by row; `rows` maps each SKU and spec
    to its row number, to name the field of a mistake the domain finds (`skus[2].price`)."""

    name: str
    description: str
    specs: tuple[tuple[str, str], ...]
    skus: tuple[Sku, ...]
    images: tuple[str, ...]
    sku_rows: tuple[int, ...]
    spec_rows: tuple[int, ...]


# -- the list ------------------------------------------------------------------------
@router.get("/products")
async def list_products(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        platform = platform_of(request)
        products = list(await platform.store.products.all())
        launches = platform.catalog.launches_by_product()
        rehearsal = [p for p in products if p.rehearsal]
        show_rehearsal = request.query_params.get("rehearsal") == "1"
        shown = [p for p in products if show_rehearsal or not p.rehearsal]
        rows = [_list_row(p, launches.get(p.id, [])) for p in reversed(shown)]
        context = {"rows": rows, "rehearsal": len(rehearsal), "show_rehearsal": show_rehearsal}
        return render(request, "admin/products.html", context)

    return await guarded(request, handle)


def _list_row(product: Product, launches: list[Launch]) -> dict[str, Any]:
    by_currency: dict[str, list[Money]] = {}
    for sku in product.skus:
        by_currency.setdefault(sku.price.currency, []).append(sku.price)
    prices = []
    for found in by_currency.values():
        low = min(found, key=lambda m: m.amount)
        high = max(found, key=lambda m: m.amount)
        upper = str(high).removeprefix(f"{high.currency} ")
        prices.append(str(low) if low == high else f"{low} \N{EN DASH} {upper}")
    return {
        "product": product,
        "thumb": image_urls(product.images[0])["480"] if product.images else None,
        "prices": prices,
        "launches": launches,
    }


# -- one product -----------------------------------------------------------------------
@router.get("/products/new")
async def new_product(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        value = {f"sku{i}_currency": "EUR" for i in range(BLANK_SKUS)}
        rows = _Rows(skus=list(range(BLANK_SKUS)), specs=[0, 1], images=[])
        return _form(request, None, value, rows, {})

    return await guarded(request, handle)


@router.post("/products/preview")
async def preview(request: Request) -> Response:
    """The description as fans will see it, for the edit page's live preview."""

    async def handle(request: Request) -> Response:
        form = await read_form(request, change=False)  # (shows, changes nothing)
        # off the event loop: a hostile 20,000 characters take a quarter of a second
        html = await asyncio.to_thread(markdown_html, form.get("description"))
        page = HTMLResponse(str(html))
        harden(page)
        return page

    return await guarded(request, handle)


@router.post("/products")
async def create_product(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_upload_form(request)
        platform = platform_of(request)
        if _action(form) != "save":
            return _form_again(request, None, form, platform, {})
        try:
            draft = _read(form)
            images = await _upload(platform, form, draft.images)
            product = await platform.catalog.create_product(
                draft.name, draft.description, list(draft.skus), draft.specs, images
            )
        except DomainError as exc:
            return _form_again(request, None, form, platform, {}, _on_form(exc, form), 400)
        await platform.audit(form.actor, "product.create", product.id, {"name": product.name})
        return redirect("/admin/launches/new", product_id=product.id, done="product")

    return await guarded(request, handle)


@router.get("/products/{product_id}")
async def edit_product(request: Request, product_id: str) -> Response:
    async def handle(request: Request, product_id: str) -> Response:
        signed_in(request)
        platform = platform_of(request)
        product = await platform.catalog.product(product_id)
        value, rows = _values_of(product)
        locked = platform.catalog.skus_in_launches(product_id)
        return _form(request, product, value, rows, locked, platform=platform)

    return await guarded(request, handle, product_id)


@router.post("/products/{product_id}")
async def save_product(request: Request, product_id: str) -> Response:
    async def handle(request: Request, product_id: str) -> Response:
        form = await read_upload_form(request)
        platform = platform_of(request)
        before = await platform.catalog.product(product_id)
        locked = platform.catalog.skus_in_launches(product_id)
        if _action(form) != "save":
            return _form_again(request, before, form, platform, locked)
        try:
            draft = _read(form)
            images = await _upload(platform, form, draft.images)
            changes = ProductChanges(
                name=draft.name,
                description=draft.description,
                specs=draft.specs,
                skus=draft.skus,
                images=images,
            )
            after = await platform.catalog.change_product(product_id, changes)
        except DomainError as exc:
            error = _on_form(exc, form)
            return _form_again(request, before, form, platform, locked, error, 400)
        detail = product_edit_detail(before, after)
        await platform.audit(form.actor, "product.change", product_id, detail)
        return redirect(f"/admin/products/{product_id}", done="saved")

    return await guarded(request, handle, product_id)


# -- reading the form -----------------------------------------------------------------
def _action(form: UploadForm) -> str:
    return form.get("action", "save")


def _indexes(form: UploadForm, kind: str) -> list[int]:
    found = {int(m.group(2)) for name in form.fields if (m := _ROW.match(name)) and m[1] == kind}
    return sorted(found)


def _read(form: UploadForm) -> Draft:
    """The product the form describes. Blank rows are skipped; a row marked "Remove" is
    left out (the catalog refuses it for a SKU in a launch)."""
    sku_rows: list[int] = []
    skus: list[Sku] = []
    for i in _indexes(form, "sku"):
        code = form.get(f"sku{i}_code")
        typed = [form.get(f"sku{i}_{k}") for k in ("name", "price", "cost")]
        if form.get(f"sku{i}_remove"):
            continue  # (the catalog refuses to drop a SKU that is in a launch)
        if not code:
            if any(typed):
                raise InvalidInput("give this SKU a code", field=f"sku{i}_code")
            continue
        currency = validate_currency(
            form.get(f"sku{i}_currency", "EUR").upper(), field=f"sku{i}_currency"
        )
        label = f"SKU {code}: "
        price = _money(form, f"sku{i}_price", currency, label + "price")
        cost = _money(form, f"sku{i}_cost", currency, label + "cost", blank_is_zero=True)
        skus.append(Sku(code, form.get(f"sku{i}_name") or code, price, cost))
        sku_rows.append(i)
    if not skus:
        raise InvalidInput("give at least one SKU (a code and a price)", field="sku0_code")
    spec_rows: list[int] = []
    specs: list[tuple[str, str]] = []
    for i in _indexes(form, "spec"):
        label, value = form.get(f"spec{i}_label"), form.get(f"spec{i}_value")
        if (label or value) and not form.get(f"spec{i}_remove"):
            specs.append((label, value))
            spec_rows.append(i)
    return Draft(
        name=form.get("name"),
        description=form.fields.get("description", [""])[0].replace("\r\n", "\n"),
        specs=tuple(specs),
        skus=tuple(skus),
        images=_image_order(form),
        sku_rows=tuple(sku_rows),
        spec_rows=tuple(spec_rows),
    )


def _money(
    form: UploadForm, name: str, currency: str, label: str, *, blank_is_zero: bool = False
) -> Money:
    typed = form.get(name)
    if not typed and blank_is_zero:
        return Money(0, currency)
    try:
        return Money.parse(typed, currency, field=name)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {exc.message}", field=name, code=exc.code) from None


def _image_order(form: UploadForm) -> tuple[str, ...]:
    """The images kept, by the position typed for each (ties keep the page's order)."""
    kept = []
    for i in _indexes(form, "image"):
        media_id = form.get(f"image{i}_id")
        if media_id and not form.get(f"image{i}_remove"):
            try:
                position = float(form.get(f"image{i}_position") or i + 1)
            except ValueError:
                raise InvalidInput(
                    "an image's position is a number", field=f"image{i}_position"
                ) from None
            kept.append((position, i, media_id))
    return tuple(media_id for _, _, media_id in sorted(kept))


async def _upload(platform: Platform, form: UploadForm, images: tuple[str, ...]) -> tuple[str, ...]:
    """The images chosen in the form, checked and stored, after those the product keeps."""
    library = MediaLibrary(platform.store.media, platform.clock, platform.store.transaction)
    added = list(images)
    for upload in form.files_of("images"):
        try:
            image = await library.add_image(upload.data, field="images")
        except InvalidInput as exc:
            raise InvalidInput(
                f"{upload.filename}: {exc.message}", field="images", code=exc.code
            ) from None
        if image.id not in added:
            added.append(image.id)
    if len(added) > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images per product", field="images")
    return tuple(added)


def _on_form(error: DomainError, form: UploadForm) -> DomainError:
    """A mistake the domain names by list position (`skus[2].currency`) named by the form's
    own field (`sku7_currency`), so the page can point at the input."""
    found = re.match(r"^(skus|specs|images)\[(\d+)\]\.?(\w*)$", error.field or "")
    if found is None:
        return error
    kind, position, part = found[1], int(found[2]), found[3]
    if kind == "images":
        error.field = "images"
        return error
    try:
        draft = _read(form)
        rows = draft.sku_rows if kind == "skus" else draft.spec_rows
        error.field = f"{kind[:-1]}{rows[position]}_{part or 'code'}"
    except (DomainError, IndexError):
        pass
    return error


# -- rendering the form -----------------------------------------------------------------
@dataclass(slots=True)
class _Rows:
    skus: list[int]
    specs: list[int]
    images: list[int]


def _values_of(product: Product) -> tuple[dict[str, str], _Rows]:
    value = {"name": product.name, "description": product.description}
    for i, sku in enumerate(product.skus):
        value |= {
            f"sku{i}_code": sku.code,
            f"sku{i}_name": sku.name if sku.name != sku.code else "",
            f"sku{i}_price": sku.price.decimal_text(),
            f"sku{i}_cost": sku.cost.decimal_text() if sku.cost.amount else "",
            f"sku{i}_currency": sku.price.currency,
        }
    blank = len(product.skus)
    value[f"sku{blank}_currency"] = product.skus[-1].price.currency if product.skus else "EUR"
    for i, (label, text) in enumerate(product.specs):
        value |= {f"spec{i}_label": label, f"spec{i}_value": text}
    for i, media_id in enumerate(product.images):
        value |= {f"image{i}_id": media_id, f"image{i}_position": str(i + 1)}
    rows = _Rows(
        skus=list(range(blank + 1)),
        specs=list(range(len(product.specs) + 1)),
        images=list(range(len(product.images))),
    )
    return value, rows


def _form_again(
    request: Request,
    product: Product | None,
    form: UploadForm,
    platform: Platform,
    locked: Mapping[str, str],
    error: DomainError | None = None,
    status: int = 200,
) -> Response:
    """The form as it was posted: after a mistake, or asked for more rows or a preview."""
    value = {k: v[0] for k, v in form.fields.items() if v and k != "csrf"}
    rows = _Rows(_indexes(form, "sku"), _indexes(form, "spec"), _indexes(form, "image"))
    action = _action(form)
    if action in ("more_skus", "more_specs"):
        target = rows.skus if action == "more_skus" else rows.specs
        start = max(target, default=-1) + 1
        target.extend(range(start, start + MORE_ROWS))
        if action == "more_skus":
            currency = value.get(f"sku{start - 1}_currency", "EUR")
            value |= {f"sku{i}_currency": currency for i in range(start, start + MORE_ROWS)}
    return _form(
        request,
        product,
        value,
        rows,
        locked,
        error=error,
        status=status,
        preview=action == "preview",
        files_dropped=bool(form.files) and (action != "save" or error is not None),
        platform=platform,
    )


def _form(
    request: Request,
    product: Product | None,
    value: dict[str, str],
    rows: _Rows,
    locked: Mapping[str, str],
    *,
    error: DomainError | None = None,
    status: int = 200,
    preview: bool = False,
    files_dropped: bool = False,
    platform: Platform | None = None,
) -> Response:
    description = value.get("description", "")
    launches = []
    if product is not None and platform is not None:
        launches = platform.catalog.launches_by_product().get(product.id, [])
    context: dict[str, Any] = {
        "product": product,
        "value": value,
        "rows": rows,
        "locked": locked,
        "error": error,
        "preview": markdown_html(description) if preview or product is not None else Markup(""),
        "show_preview": preview,
        "files_dropped": files_dropped,
        "launches": launches,
        "image_urls": image_urls,
        "limits": {"skus": MAX_SKUS, "specs": MAX_SPECS, "images": MAX_IMAGES},
    }
    if (done := DONE.get(request.query_params.get("done", ""))) is not None:
        context["done"] = done
    return render(request, "admin/product_form.html", context, status=status)
