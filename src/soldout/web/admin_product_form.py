"""The admin's product form and the product it describes, both ways: the form read and
checked row by row into a `Draft`, a mistake the domain names by list position named by
the form's own field, and a product's values for the form (`admin_products` serves it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from soldout.domain.errors import DomainError, InvalidInput
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import Product, Sku
from soldout.web.admin_uploads import UploadForm

__all__ = [
    "Draft",
    "Rows",
    "form_action",
    "image_order",
    "named_on_form",
    "read_draft",
    "row_numbers",
    "values_of",
]

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


def form_action(form: UploadForm) -> str:
    return form.get("action", "save")


def row_numbers(form: UploadForm, kind: str) -> list[int]:
    found = {int(m.group(2)) for name in form.fields if (m := _ROW.match(name)) and m[1] == kind}
    return sorted(found)


def read_draft(form: UploadForm) -> Draft:
    """The product the form describes. Blank rows are skipped; a row marked "Remove" is
    left out (the catalog refuses it for a SKU in a launch)."""
    sku_rows: list[int] = []
    skus: list[Sku] = []
    for i in row_numbers(form, "sku"):
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
        price = typed_money(form, f"sku{i}_price", currency, label + "price")
        cost = None  # left blank: not given (0 is a cost of nothing)
        if form.get(f"sku{i}_cost"):
            cost = typed_money(form, f"sku{i}_cost", currency, label + "cost")
        skus.append(Sku(code, form.get(f"sku{i}_name") or code, price, cost))
        sku_rows.append(i)
    if not skus:
        raise InvalidInput("give at least one SKU (a code and a price)", field="sku0_code")
    spec_rows: list[int] = []
    specs: list[tuple[str, str]] = []
    for i in row_numbers(form, "spec"):
        label, value = form.get(f"spec{i}_label"), form.get(f"spec{i}_value")
        if (label or value) and not form.get(f"spec{i}_remove"):
            specs.append((label, value))
            spec_rows.append(i)
    return Draft(
        name=form.get("name"),
        description=form.fields.get("description", [""])[0].replace("\r\n", "\n"),
        specs=tuple(specs),
        skus=tuple(skus),
        images=image_order(form),
        sku_rows=tuple(sku_rows),
        spec_rows=tuple(spec_rows),
    )


def typed_money(form: UploadForm, name: str, currency: str, label: str) -> Money:
    typed = form.get(name)
    try:
        return Money.parse(typed, currency, field=name)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {exc.message}", field=name, code=exc.code) from None


def image_order(form: UploadForm) -> tuple[str, ...]:
    """The images kept, by the position typed for each (ties keep the page's order)."""
    kept = []
    for i in row_numbers(form, "image"):
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


def named_on_form(error: DomainError, form: UploadForm) -> DomainError:
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
        draft = read_draft(form)
        rows = draft.sku_rows if kind == "skus" else draft.spec_rows
        error.field = f"{kind[:-1]}{rows[position]}_{part or 'code'}"
    except (DomainError, IndexError):
        pass
    return error


@dataclass(slots=True)
class Rows:
    skus: list[int]
    specs: list[int]
    images: list[int]


def values_of(product: Product) -> tuple[dict[str, str], Rows]:
    value = {"name": product.name, "description": product.description}
    for i, sku in enumerate(product.skus):
        value |= {
            f"sku{i}_code": sku.code,
            f"sku{i}_name": sku.name if sku.name != sku.code else "",
            f"sku{i}_price": sku.price.decimal_text(),
            f"sku{i}_cost": sku.cost.decimal_text() if sku.cost is not None else "",
            f"sku{i}_currency": sku.price.currency,
        }
    blank = len(product.skus)
    value[f"sku{blank}_currency"] = product.skus[-1].price.currency if product.skus else "EUR"
    for i, (label, text) in enumerate(product.specs):
        value |= {f"spec{i}_label": label, f"spec{i}_value": text}
    for i, media_id in enumerate(product.images):
        value |= {f"image{i}_id": media_id, f"image{i}_position": str(i + 1)}
    rows = Rows(
        skus=list(range(blank + 1)),
        specs=list(range(len(product.specs) + 1)),
        images=list(range(len(product.images))),
    )
    return value, rows
