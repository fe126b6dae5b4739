"""Money: integer minor units with an ISO 4217 currency code. Never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass

from soldout.domain.errors import InvalidInput

__all__ = ["Money", "validate_currency"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_MINOR_UNITS = 10**12
# Digits after the decimal point where a currency does not use two (ISO 4217).
_EXPONENT = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3}


def validate_currency(code: str, *, field: str = "currency") -> str:
    if not isinstance(code, str) or not _CURRENCY.match(code):
        raise InvalidInput("currency must be a three-letter ISO 4217 code, e.g. EUR", field=field)
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidInput("amount must be an integer of minor units", field="amount")
        if not 0 <= self.amount <= MAX_MINOR_UNITS:
            raise InvalidInput(f"amount must be between 0 and {MAX_MINOR_UNITS}", field="amount")
        validate_currency(self.currency)

    def __str__(self) -> str:
        """For people: "EUR 1,299.00" (exact, no float)."""
        digits = _EXPONENT.get(self.currency, 2)
        whole, part = divmod(self.amount, 10**digits)
        return f"{self.currency} {whole:,}" + (f".{part:0{digits}d}" if digits else "")

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)
