"""A refusal on an admin page names the field as the maker reads it (it showed API names:
"must be between 0 and 10000000 (rates[0].units_per_day)")."""

from __future__ import annotations

import pytest

import soldout.api.app  # noqa: F401 (the web package loads through the app, as it runs)
from soldout.web.admin_render import field_apart, said, said_field


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("current_password", "current_password"),  # a form's own input, as it is named
        ("rates[0].units_per_day", "rates line 1, units per day"),
        ("batch.LAMP-EU", "units of LAMP-EU"),
        ("shipping.postal_code", "shipping, postal code"),
        ("options[1].sku", "options line 2, sku"),  # a poll's option, as the board's form
    ],
)
def test_a_refused_field_is_named_in_words(field: str, words: str) -> None:
    assert said_field(field) == words


def test_an_api_name_in_a_message_is_spelled_out() -> None:
    assert said("per_fan_limit must be between 1 and 1000") == (
        "per fan limit must be between 1 and 1000"
    )
    assert said("Units of LAMP-EU must be a whole number") == (
        "Units of LAMP-EU must be a whole number"
    )
    assert said("no idea ida_nope on this board") == "no idea ida_nope on this board"  # an id


def test_a_field_the_message_names_is_not_named_twice() -> None:
    message = "rates line 1: write a date as YYYY-MM-DD"
    assert field_apart("rates[0]", message) is None
    assert field_apart("reason", "give the reason for the refund") == "reason"  # a form's own
