"""Products and their SKUs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from soldout.domain.errors import InvalidInput
from soldout.domain.money import CURRENCIES, Money
from soldout.domain.text import check_text

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_IMAGES",
    "MAX_SKUS",
    "MAX_SPECS",
    "Product",
    "Sku",
    "check_details",
    "check_launch_currency",
    "check_one_currency",
    "check_sku_changes",
    "given_cost",
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
    cost: Money | None  # what one unit costs the maker; None: not given (0 is free)

    @property
    def cost_amount(self) -> int | None:
        return None if self.cost is None else self.cost.amount


def given_cost(amount: int | None, currency: str) -> Money | None:
    """A SKU's cost from minor units, as a form or a row gives it: None is not given."""
    return None if amount is None else Money(amount, currency)


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
    # by code: claims and payments look a SKU up several times each, among up to 200
    _by_code: dict[str, Sku] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {s.code: s for s in reversed(self.skus)})  # the first

    def sku(self, code: str) -> Sku | None:
        return self._by_code.get(code)

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
            if sku.cost is not None and sku.cost.currency != sku.price.currency:
                raise InvalidInput(
                    "cost and price must be in the same currency", field=f"skus[{i}].cost"
                )


def check_details(
    name: str,
    description: str,
    specs: tuple[tuple[str, str], ...],
    images: tuple[str, ...],
    before: Product | None = None,
) -> None:
    """A product's words and pictures: text people may write (`check_text`) of lengths a
    page can show, no empty spec rows, each image once. Words an edit leaves as they were
    (`before`) are not checked again: a rule made later never locks an old product."""
    if before is None or name != before.name:
        check_text(name, field="name", limit=MAX_NAME, label="the product's name")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"the description is {len(description):,} characters; at most {MAX_DESCRIPTION:,} fit",
            field="description",
        )
    if before is None or description != before.description:
        check_text(
            description, field="description", limit=MAX_DESCRIPTION, required=False, lines=True
        )
    if len(specs) > MAX_SPECS:
        raise InvalidInput(f"at most {MAX_SPECS} spec rows", field="specs")
    kept = set(before.specs) if before is not None else set()
    for i, (label, value) in enumerate(specs):
        if (label, value) in kept:
            continue
        check_text(label, field=f"specs[{i}].label", limit=MAX_SPEC_LABEL, label="a spec's label")
        check_text(value, field=f"specs[{i}].value", limit=MAX_SPEC_VALUE, label=f"spec {label!r}")
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
    change: a claim keeps the price it was made at, later claims pay the new one.

    A new SKU, name or currency is checked as anything people write (`check_text`, a
    currency in `CURRENCIES`); what the edit leaves as it was is not, so a SKU keeps a
    currency withdrawn since it was made."""
    Product.check_skus(after)
    if len(after) > MAX_SKUS:
        raise InvalidInput(f"at most {MAX_SKUS} SKUs per product", field="skus")
    had = {s.code: s for s in before}
    for i, new in enumerate(after):
        earlier = had.get(new.code)
        if earlier is None or new.name != earlier.name:
            check_text(new.name, field=f"skus[{i}].name", limit=MAX_NAME, label="a SKU's name")
        if new.price.amount <= 0 and (earlier is None or earlier.price != new.price):
            raise InvalidInput(
                "a price must be more than 0: every unit sold is paid through the payment"
                " provider, and none takes a payment of 0",
                field=f"skus[{i}].price",
            )
        currency = new.price.currency
        if currency not in CURRENCIES and (earlier is None or earlier.price.currency != currency):
            raise InvalidInput(
                f"{currency} is not a currency in use (ISO 4217): write one such as EUR, USD"
                " or JPY",
                field=f"skus[{i}].currency",
                code="unknown_currency",
            )
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
    check_one_currency(before, after)


def check_one_currency(before: tuple[Sku, ...], after: tuple[Sku, ...]) -> None:
    """A product's SKUs share one currency, its first SKU's: a launch sells the product in
    it, and every total, margin and report adds its SKUs' money. The field at fault is
    the first SKU in another currency that the edit adds or moves to it; one stored in
    another currency before this rule (`before`) and left as it was is not refused, so
    such a product still loads and its maker can bring its SKUs to one currency (see
    docs/architecture.md, "Input hygiene")."""
    if not after:
        return
    currency = after[0].price.currency
    had = {s.code: s.price.currency for s in before}
    for i, sku in enumerate(after):
        if sku.price.currency == currency or had.get(sku.code) == sku.price.currency:
            continue
        raise InvalidInput(
            f"all SKUs of a product are in one currency: SKU {sku.code} is in"
            f" {sku.price.currency}, the first SKU in {currency}; make another product to"
            " sell in another currency",
            field=f"skus[{i}].currency",
            code="mixed_currencies",
        )


def check_launch_currency(product: Product, batch: dict[str, int]) -> None:
    """A new launch sells its batch in one currency: a product stored with SKUs in two
    (before `check_one_currency`) launches again only the SKUs of one of them."""
    currencies: dict[str, str] = {}
    for sku in product.skus:
        if sku.code in batch:
            currencies.setdefault(sku.price.currency, sku.code)
    if len(currencies) > 1:
        first, other = list(currencies)[:2]
        raise InvalidInput(
            f"a launch sells in one currency: SKU {currencies[other]} is in {other}, SKU"
            f" {currencies[first]} in {first}",
            field=f"batch.{currencies[other]}",
            code="mixed_currencies",
        )
