"""Amounts as Stripe counts them. soldout counts a currency in its own smallest unit
(Babel's, from CLDR: 2 digits for EUR, 0 for JPY, HUF and ISK, 3 for KWD); Stripe counts
most currencies in hundredths whatever their own unit, sixteen in whole units, and five in
thousandths whose last digit must be 0 (docs.stripe.com/currencies). A forint price of
150,000 is 150000 to soldout and 15000000 to Stripe: sent as is, the fan would pay a
hundredth of it.

    to_stripe(Money(150_000, "HUF"))  # -> 15_000_000
    from_stripe(15_000_000, "huf")     # -> 150_000
"""

from __future__ import annotations

from soldout.domain.errors import InvalidInput
from soldout.domain.money import Money, decimals

__all__ = ["MAX_AMOUNT", "from_stripe", "to_stripe"]

ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
MAX_AMOUNT = 99_999_999  # Stripe's limit of one payment, in its units: eight digits
_LONGER = {"IDR": 999_999_999_999}  # twelve digits


def _shift(currency: str) -> int:
    """Stripe's digits after the decimal point less soldout's."""
    code = currency.upper()
    theirs = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return theirs - decimals(code)


def to_stripe(money: Money) -> int:
    """`money` in Stripe's units; `InvalidInput` (`amount_not_payable`,
    `amount_too_large`) for an amount Stripe would refuse, in words a maker can act on."""
    shift = _shift(money.currency)
    scale = int(10 ** abs(shift))
    amount, rest = (money.amount * scale, 0) if shift >= 0 else divmod(money.amount, scale)
    if rest or (money.currency in THREE_DECIMAL and amount % 10):
        raise InvalidInput(
            f"Stripe cannot take {money}: it takes {money.currency} in"
            f" {'steps of 0.010' if money.currency in THREE_DECIMAL else 'whole units'}",
            field=None,
            code="amount_not_payable",
        )
    if amount > _LONGER.get(money.currency, MAX_AMOUNT):
        raise InvalidInput(
            f"Stripe takes at most {_LONGER.get(money.currency, MAX_AMOUNT)} in its units of"
            f" {money.currency} in one payment, and {money} is more: the shop must lower the"
            " price, or the units a fan may claim at once",
            field=None,
            code="amount_too_large",
        )
    return amount


def from_stripe(amount: int, currency: str) -> int:
    """An amount Stripe gave, in `currency`'s smallest unit as soldout counts it."""
    shift = _shift(currency)
    scale = int(10 ** abs(shift))
    return amount // scale if shift >= 0 else amount * scale
