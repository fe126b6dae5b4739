"""The maker's products: the list, and one form to make or edit a product (name, a
Markdown description with its preview, specs rows, any number of SKUs with prices typed as
decimals, images).

Rows are numbered in the form (`sku3_price`); the numbers only pair a row's fields, gaps
are fine, so the page's script adds and removes rows without renumbering. Without the
script, "More rows" posts the form back with blank rows added (nothing is saved then)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from soldout.api.deps import platform_of
from soldout.domain.errors import DomainError, InvalidInput
from soldout.domain.launches import Launch
from soldout.domain.money import Money
from soldout.domain.products import MAX_IMAGES, MAX_SKUS, MAX_SPECS, Product
from soldout.services import Platform
from soldout.services.catalog import ProductChanges, product_edit_detail
from soldout.services.media import MediaLibrary, image_urls
from soldout.web.admin_forms import read_form, signed_in
from soldout.web.admin_product_form import (
    Rows,
    form_action,
    named_on_form,
    read_draft,
    row_numbers,
    values_of,
)
from soldout.web.admin_render import guarded, harden, redirect, render
from soldout.web.admin_uploads import UploadForm, read_upload_form
from soldout.web.rich_text import markdown_html

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

BLANK_SKUS = 3  # blank SKU rows a new product's form starts with
MORE_ROWS = 5  # blank rows "More rows" adds without the script
DONE = {"saved": "Product saved. Its launch pages show the change."}


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
        rows = Rows(skus=list(range(BLANK_SKUS)), specs=[0, 1], images=[])
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
        if form_action(form) != "save":
            return _form_again(request, None, form, platform, {})
        try:
            draft = read_draft(form)
            images = await _upload(platform, form, draft.images)
            product = await platform.catalog.create_product(
                draft.name, draft.description, list(draft.skus), draft.specs, images
            )
        except DomainError as exc:
            return _form_again(request, None, form, platform, {}, named_on_form(exc, form), 400)
        await platform.audit(form.actor, "product.create", product.id, {"name": product.name})
        return redirect("/admin/launches/new", product_id=product.id, done="product")

    return await guarded(request, handle)


@router.get("/products/{product_id}")
async def edit_product(request: Request, product_id: str) -> Response:
    async def handle(request: Request, product_id: str) -> Response:
        signed_in(request)
        platform = platform_of(request)
        product = await platform.catalog.product(product_id)
        value, rows = values_of(product)
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
        if form_action(form) != "save":
            return _form_again(request, before, form, platform, locked)
        try:
            draft = read_draft(form)
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
            error = named_on_form(exc, form)
            return _form_again(request, before, form, platform, locked, error, 400)
        detail = product_edit_detail(before, after)
        await platform.audit(form.actor, "product.change", product_id, detail)
        return redirect(f"/admin/products/{product_id}", done="saved")

    return await guarded(request, handle, product_id)


# -- reading the form -----------------------------------------------------------------
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


# -- rendering the form -----------------------------------------------------------------
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
    rows = Rows(row_numbers(form, "sku"), row_numbers(form, "spec"), row_numbers(form, "image"))
    action = form_action(form)
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
    rows: Rows,
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
