"""Products and their SKUs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.errors import InvalidInput
from soldout.domain.money import Money

__all__ = ["Product", "Sku", "validate_sku_code"]

_SKU_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


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
