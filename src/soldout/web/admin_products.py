"""The admin's product form: a product and its SKUs (code, name, price, cost)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.deps import platform_of
from soldout.domain.errors import DomainError, InvalidInput
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import Product, Sku
from soldout.services import Platform
from soldout.web.admin_forms import Form, read_form, signed_in
from soldout.web.admin_render import guarded, redirect, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

SKU_ROWS = 4


@router.get("/products/new")
async def new_product(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        return render(request, "admin/product_new.html", _product_context({}, None))

    return await guarded(request, handle)


def _product_context(fields: Mapping[str, list[str]], error: DomainError | None) -> dict[str, Any]:
    value = {k: v[0] for k, v in fields.items() if v}
    return {"rows": range(SKU_ROWS), "value": value, "error": error}


@router.post("/products")
async def create_product(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        try:
            product = await _make_product(platform_of(request), form)
        except DomainError as exc:
            context = _product_context(form.fields, exc)
            return render(request, "admin/product_new.html", context, status=400)
        return redirect("/admin/launches/new", product_id=product.id, done="product")

    return await guarded(request, handle)


async def _make_product(platform: Platform, form: Form) -> Product:
    name = form.get("name")
    if not name:
        raise InvalidInput("the product needs a name", field="name")
    skus = []
    for i in range(SKU_ROWS):
        code = form.get(f"sku{i}_code")
        if not code:
            continue
        label = f"SKU {code}"
        currency = validate_currency(form.get(f"sku{i}_currency").upper(), field=f"sku{i}_currency")
        price = Money(form.integer(f"sku{i}_price", f"{label}: price"), currency)
        cost = Money(form.integer(f"sku{i}_cost", f"{label}: cost", default=0), currency)
        skus.append(Sku(code, form.get(f"sku{i}_name") or code, price, cost))
    if not skus:
        raise InvalidInput("give at least one SKU (a code, a price)", field="sku0_code")
    product = await platform.catalog.create_product(name, form.get("description"), skus)
    await platform.audit(form.actor, "product.create", product.id, {"name": name})
    return product
