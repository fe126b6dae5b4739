"""Money: integer minor units with an ISO 4217 currency code. Never a float.

How many digits a currency has after its decimal point (2 for EUR, 0 for JPY, 3 for KWD)
is CLDR's, through Babel: the same table the storefront formats prices with, so a price
typed in the admin, stored in minor units and shown to a fan agree on what a unit is.
Which codes a price may be in (`CURRENCIES`) is CLDR's too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from babel.core import get_global
from babel.numbers import get_currency_precision, get_currency_symbol

from soldout.domain.errors import InvalidInput

__all__ = ["CURRENCIES", "MAX_MINOR_UNITS", "Money", "decimals", "validate_currency"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_MINOR_UNITS = 10**12
# Between digit groups: a space of any width (French, Swiss, Nordic) or an apostrophe
# (Swiss); '.' and ',' are read by position (below).
_GROUP_SPACES = re.compile("[ \u00a0\u202f\u2009'\u2019]")
_SEPARATORS = re.compile(r"[.,]")
_WELL_FORMED = re.compile(r"^[0-9]+(?:['.,][0-9]+)*$")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+$")
_LAKHS = re.compile(r"^[0-9]{1,2}(?:,[0-9]{2})*,[0-9]{3}$")  # Indian: 1,29,999


def _legal_tender() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today, as the CLDR data Babel ships
    records them (a territory's currency with no end date): 150-odd codes. Left out are
    withdrawn currencies (DEM, HRK), funds codes (USN, CLF), precious metals (XAU) and the
    codes for testing and for no currency (XTS, XXX), none of which a fan can pay in."""
    per_territory = get_global("territory_currencies")  # {territory: [(code, from, to, tender)]}
    return frozenset(
        str(code)
        for currencies in per_territory.values()
        for code, _start, end, tender in currencies
        if tender and end is None
    )


CURRENCIES: frozenset[str] = _legal_tender()


def validate_currency(code: str, *, field: str = "currency") -> str:
    """A code written as ISO 4217 writes one (three capital letters). Whether a new price
    may be in it is `CURRENCIES`' to say (see `products.check_sku_changes`): a price
    stored before its currency was withdrawn still reads back."""
    if not isinstance(code, str) or not _CURRENCY.match(code):
        raise InvalidInput("currency must be a three-letter ISO 4217 code, e.g. EUR", field=field)
    return code


def decimals(currency: str) -> int:
    """Digits after the decimal point in `currency` (CLDR): EUR 2, JPY 0, KWD 3."""
    return int(get_currency_precision(currency))


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
        return f"{self.currency} {self._decimal(',')}"

    def decimal_text(self) -> str:
        """The amount as a form shows it back, without grouping: "1299.00", "1500" (JPY);
        `Money.parse` reads it back to the same amount."""
        return self._decimal("")

    def _decimal(self, grouping: str) -> str:
        digits = decimals(self.currency)
        whole, part = divmod(self.amount, 10**digits)
        text = f"{whole:,}".replace(",", grouping)
        return text + (f".{part:0{digits}d}" if digits else "")

    @classmethod
    def parse(cls, text: str, currency: str, *, field: str = "price") -> Money:
        """A price typed by a person, in the currency's own units: "129.00", "129,00" and
        "70" (70 euros, not 0.70), "1,299.00", "1.299,00", "1 299,50", "€ 12.50".

        Where '.' and ',' both appear, the last one is the decimal mark. One alone is the
        decimal mark, except a ',' before exactly three digits in a currency of fewer than
        three decimals ("1,299" euros): read as a decimal comma it would be a price the
        currency cannot have, so it can only group thousands. A lone '.' is always the
        decimal mark, so "12.345" euros is refused rather than guessed to be 12,345 (a
        price ten or a thousand times off is the costliest typo a shop can make). More
        decimals than the currency has are refused, even zeros: "1.000" JPY may mean one
        yen or a thousand."""
        validate_currency(currency)
        digits = decimals(currency)
        raw = text.strip() if isinstance(text, str) else ""
        for mark in _marks(currency):
            if raw.upper().startswith(mark.upper()):
                raw = raw[len(mark) :].strip()
            elif raw.upper().endswith(mark.upper()):
                raw = raw[: -len(mark)].strip()
        if not raw:
            raise InvalidInput(f"give a price in {currency}, e.g. {_example(digits)}", field=field)
        if raw.startswith("-"):
            raise InvalidInput("a price cannot be below zero", field=field)
        compact = _GROUP_SPACES.sub("'", raw)
        if not _WELL_FORMED.match(compact):
            raise InvalidInput(
                f"{text.strip()!r} is not a price: write it like {_example(digits)}", field=field
            )
        whole, fraction = _split(compact, digits, shown=text.strip(), field=field)
        if len(fraction) > digits:
            if digits == 0:
                why = f"{currency} has no decimals (no cents)"
            else:
                why = f"{currency} has {digits} decimal{'s' if digits > 1 else ''}"
            raise InvalidInput(
                f"{text.strip()!r} has {len(fraction)} digits after the decimal mark, but {why}:"
                f" write it like {_example(digits)}",
                field=field,
            )
        amount = int(whole) * 10**digits + int(fraction.ljust(digits, "0") or "0")
        if amount > MAX_MINOR_UNITS:
            raise InvalidInput("that price is too large", field=field)
        return cls(amount, currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)


def _split(compact: str, digits: int, *, shown: str, field: str) -> tuple[str, str]:
    """The whole part's digits and the fraction's digits of a well-formed number."""
    marks = _SEPARATORS.findall(compact)
    if "'" in compact:  # "1 299,50": spaces group, so a '.' or ',' can only be decimal
        if len(marks) > 1:
            raise InvalidInput(f"{shown!r} is not a price: too many decimal marks", field=field)
        head, _, tail = compact.partition(marks[0]) if marks else (compact, "", "")
        return _ungroup(head, "'", shown=shown, field=field), tail
    if not marks:
        return compact, ""
    last = compact.rfind(marks[-1])
    head, tail = compact[:last], compact[last + 1 :]
    if len(set(marks)) == 2:  # "1,299.00", "1.299,00": the last mark is the decimal one
        grouping = "," if marks[-1] == "." else "."
        if marks[-1] in head:
            raise InvalidInput(f"{shown!r} is not a price: too many decimal marks", field=field)
        return _ungroup(head, grouping, shown=shown, field=field), tail
    if len(marks) > 1:  # "1,299,000" or "1.299.000": every mark groups
        return _ungroup(compact, marks[0], shown=shown, field=field), ""
    if marks[0] == "," and len(tail) == 3:
        if digits < 3:
            return head + tail, ""  # "1,299" euros: a decimal comma would be 3 decimals
        raise InvalidInput(
            f"{shown!r} could be a thousand times more or less: write {head}.{tail}"
            f" or {head}{tail}",
            field=field,
        )
    return head, tail


def _ungroup(number: str, mark: str, *, shown: str, field: str) -> str:
    as_commas = number.replace(mark, ",")
    if not (_THOUSANDS.match(as_commas) or _LAKHS.match(as_commas)):
        raise InvalidInput(
            f"{shown!r} is not a price: digits are grouped by three, e.g. 1,299.00", field=field
        )
    return number.replace(mark, "")


@functools.lru_cache(maxsize=64)
def _marks(currency: str) -> list[str]:
    """What may stand before or after the number: the code and the common symbols."""
    found = {currency}
    for locale in ("en", "en_US", "nl", "de", "fr", "zh"):
        symbol = str(get_currency_symbol(currency, locale))
        if not any(c.isdigit() or c in ".," for c in symbol):
            found.add(symbol)
    return sorted(found, key=len, reverse=True)


def _example(digits: int) -> str:
    return "129" + ("." + "0" * digits if digits else "")
