"""Prices typed by a maker, read in the currency's own units (Babel's precision)."""

from __future__ import annotations

import pytest

from soldout.domain.errors import InvalidInput
from soldout.domain.money import Money


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("129.00", "EUR", 12900),
        ("129,00", "EUR", 12900),
        ("70", "EUR", 7000),  # 70 euros, never 0.70
        ("1,299.00", "EUR", 129900),
        ("1.299,00", "EUR", 129900),
        ("1 299,50", "EUR", 129950),
        ("1\u202f299,50", "EUR", 129950),  # narrow no-break space, as CLDR groups French
        ("1'299.95", "CHF", 129995),
        ("1,299", "EUR", 129900),  # a decimal comma would be 3 decimals: thousands
        ("1,234,567.89", "USD", 123456789),
        ("1,29,999.00", "INR", 12999900),  # Indian grouping
        ("12.5", "EUR", 1250),
        ("0.99", "USD", 99),
        ("0", "EUR", 0),
        ("  129.00  ", "EUR", 12900),
        ("€129", "EUR", 12900),
        ("EUR 129.00", "EUR", 12900),
        ("129.00 €", "EUR", 12900),
        ("$19.99", "USD", 1999),
        ("1500", "JPY", 1500),
        ("1,500", "JPY", 1500),
        ("¥1,500", "JPY", 1500),
        ("12.345", "KWD", 12345),
        ("12.3", "KWD", 12300),
        ("12", "KWD", 12000),
    ],
)
def test_prices_are_read_in_the_currencys_own_units(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency", "words"),
    [
        ("12.345", "EUR", "EUR has 2 decimals"),
        ("10.5", "JPY", "JPY has no decimals"),
        ("1.000", "JPY", "JPY has no decimals"),  # one yen or a thousand: never guessed
        ("129.000", "EUR", "3 digits after the decimal mark"),  # even zeros
        ("1.2345", "KWD", "KWD has 3 decimals"),
        ("1,299", "KWD", "could be a thousand times more or less"),
        ("", "EUR", "give a price in EUR, e.g. 129.00"),
        ("   ", "JPY", "give a price in JPY, e.g. 129"),
        ("-5", "EUR", "below zero"),
        ("12,50.00", "EUR", "grouped by three"),
        ("1.2.3", "EUR", "grouped by three"),
        ("1,299.00.00", "EUR", "too many decimal marks"),
        ("12 34", "EUR", "grouped by three"),
        ("1 299,50.5", "EUR", "too many decimal marks"),
        ("twelve", "EUR", "is not a price"),
        ("1e3", "EUR", "is not a price"),
        ("12.", "EUR", "is not a price"),
        ("$12", "EUR", "is not a price"),  # another currency's symbol
        ("0x10", "EUR", "is not a price"),
        ("9" * 20, "EUR", "too large"),
    ],
)
def test_a_price_that_cannot_be_read_exactly_is_refused_in_words(
    text: str, currency: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse(text, currency, field="skus[3].price")
    assert words in refused.value.message
    assert refused.value.field == "skus[3].price"


def test_an_unknown_currency_code_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse("10", "euro")
    assert refused.value.field == "currency"


@pytest.mark.parametrize(
    ("money", "shown", "typed"),
    [
        (Money(129900, "EUR"), "EUR 1,299.00", "1299.00"),
        (Money(7000, "EUR"), "EUR 70.00", "70.00"),
        (Money(5, "EUR"), "EUR 0.05", "0.05"),
        (Money(150000, "JPY"), "JPY 150,000", "150000"),
        (Money(12345, "KWD"), "KWD 12.345", "12.345"),
    ],
)
def test_amounts_are_shown_back_as_typed_and_read_back_unchanged(
    money: Money, shown: str, typed: str
) -> None:
    assert str(money) == shown
    assert money.decimal_text() == typed
    assert Money.parse(money.decimal_text(), money.currency) == money
    assert Money.parse(str(money), money.currency) == money
