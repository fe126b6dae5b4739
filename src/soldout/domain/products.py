"""Products and their SKUs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.errors import InvalidInput
from soldout.domain.money import Money

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_IMAGES",
    "MAX_SKUS",
    "MAX_SPECS",
    "Product",
    "Sku",
    "check_details",
    "check_sku_changes",
    "validate_sku_code",
]

_SKU_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NAME = 200
MAX_DESCRIPTION = 20_000  # Markdown: a long product story with its tables fits
MAX_SPECS = 40  # rows of the specs table
MAX_SPEC_LABEL = 80
MAX_SPEC_VALUE = 500
MAX_IMAGES = 12
MAX_SKUS = 200  # a shoe in 20 sizes and 10 colours


def validate_sku_code(code: str, *, field: str) -> str:
    if not isinstance(code, str) or not _SKU_CODE.match(code):
        raise InvalidInput(
            "a SKU code is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field=field,
        )
    return code


@dataclass(frozen=True, slots=True)
class Sku:
    code: str
    name: str
    price: Money
    cost: Money


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    description: str
    skus: tuple[Sku, ...]
    created_at: datetime
    specs: tuple[tuple[str, str], ...] = ()  # (label, value) rows of the specs table
    images: tuple[str, ...] = ()  # media ids, the first is the hero
    rehearsal: str | None = None  # made by a rehearsal run (its id)

    def sku(self, code: str) -> Sku | None:
        return next((s for s in self.skus if s.code == code), None)

    @staticmethod
    def check_skus(skus: tuple[Sku, ...]) -> None:
        if not skus:
            raise InvalidInput("a product needs at least one SKU", field="skus")
        seen: set[str] = set()
        for i, sku in enumerate(skus):
            validate_sku_code(sku.code, field=f"skus[{i}].code")
            if sku.code in seen:
                raise InvalidInput(f"SKU code {sku.code!r} appears twice", field=f"skus[{i}].code")
            seen.add(sku.code)
            if sku.cost.currency != sku.price.currency:
                raise InvalidInput(
                    "cost and price must be in the same currency", field=f"skus[{i}].cost"
                )


def check_details(
    name: str, description: str, specs: tuple[tuple[str, str], ...], images: tuple[str, ...]
) -> None:
    """A product's words and pictures: lengths a page can show, no empty spec rows, each
    image once."""
    if not name.strip() or len(name) > MAX_NAME:
        raise InvalidInput(f"the product needs a name of 1 to {MAX_NAME} characters", field="name")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"the description is {len(description):,} characters; at most {MAX_DESCRIPTION:,} fit",
            field="description",
        )
    if len(specs) > MAX_SPECS:
        raise InvalidInput(f"at most {MAX_SPECS} spec rows", field="specs")
    for i, (label, value) in enumerate(specs):
        if not label.strip() or len(label) > MAX_SPEC_LABEL:
            raise InvalidInput(
                f"a spec row needs a label of 1 to {MAX_SPEC_LABEL} characters",
                field=f"specs[{i}].label",
            )
        if not value.strip() or len(value) > MAX_SPEC_VALUE:
            raise InvalidInput(
                f"spec {label!r} needs a value of 1 to {MAX_SPEC_VALUE} characters",
                field=f"specs[{i}].value",
            )
    if len(images) > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images per product", field="images")
    if len(set(images)) != len(images):
        i = next(i for i, m in enumerate(images) if images.index(m) != i)
        raise InvalidInput("an image is listed twice", field=f"images[{i}]")


def check_sku_changes(
    before: tuple[Sku, ...], after: tuple[Sku, ...], in_launches: dict[str, str]
) -> None:
    """What a maker may change in the SKUs of a product that has launches.

    `in_launches` maps each SKU code a launch has in its batch to that launch's title.
    Such a SKU stays (its stock, claims, orders and fulfilment queue are kept by code) and
    keeps its currency (its claims and payments are in it). Its name, cost and price may
    change: a claim keeps the price it was made at, later claims pay the new one."""
    Product.check_skus(after)
    if len(after) > MAX_SKUS:
        raise InvalidInput(f"at most {MAX_SKUS} SKUs per product", field="skus")
    kept = {s.code: (i, s) for i, s in enumerate(after)}
    for old in before:
        launch = in_launches.get(old.code)
        if launch is None:
            continue
        if old.code not in kept:
            raise InvalidInput(
                f"SKU {old.code} is in the launch {launch!r}, so it cannot be removed",
                field="skus",
                code="sku_in_launch",
            )
        i, new = kept[old.code]
        if new.price.currency != old.price.currency:
            raise InvalidInput(
                f"SKU {old.code} is in the launch {launch!r}, so its currency stays"
                f" {old.price.currency}",
                field=f"skus[{i}].currency",
                code="sku_in_launch",
            )
