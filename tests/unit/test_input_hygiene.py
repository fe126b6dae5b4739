"""The shared rules for what people write (`domain.text`), e-mail addresses' one form,
currencies in use, and JSON bodies whose objects give a key twice (`api.json_body`).
Each rule is also proven over HTTP in `tests/integration/test_input_hygiene_api.py`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soldout.api.claim_request import parse_claim
from soldout.api.json_body import is_json, repeated_key
from soldout.domain.addresses import ShippingAddress, country_names
from soldout.domain.errors import InvalidInput
from soldout.domain.fans import normalise_email
from soldout.domain.fulfilment import Adjustment, ProductionPlan
from soldout.domain.money import CURRENCIES, Money
from soldout.domain.plural import count
from soldout.domain.products import (
    Product,
    Sku,
    check_details,
    check_launch_currency,
    check_sku_changes,
)
from soldout.domain.shop import Shop
from soldout.domain.text import check_text, shows
from soldout.services.fulfilment import refund_reason

# -- the text rule ------------------------------------------------------------------------

REFUSED = {
    "NUL": "Ann\x00Fan",
    "escape": "Ann\x1b[31mFan",
    "delete": "Ann\x7f",
    "C1 control": "Ann\x85Fan",
    "tab inside": "Ann\tFan",
    "line break inside": "Ann\nFan",
    "right-to-left override": "Ann\u202egpj.exe",
    "left-to-right embedding": "\u202aAnn",
    "first strong isolate": "Ann\u2068Fan\u2069",
    "line separator": "Ann\u2028Fan",
    "lone surrogate": "Ann\ud800",
}
BLANK = {
    "empty": "",
    "spaces": "   ",
    "ideographic space": "\u3000",
    "no-break spaces": "\u00a0\u202f",
    "zero-width space": "\u200b",
    "zero-width joiners": "\u200c\u200d",
    "word joiner and BOM": "\u2060\ufeff",
    "soft hyphen": "\u00ad",
    "Hangul filler": "\u3164",
    "half-width Hangul filler": "\uffa0",
    "Braille blank": "\u2800",
    "a combining mark alone": "\u0301",
    "variation selector": "\ufe0f",
    "left-to-right mark": "\u200e",
}
ALLOWED = {
    "plain": "Ann de Vries",
    "accents": "Zoë Ødegård",
    "Chinese": "李小龙",
    "Arabic with a right-to-left mark": "\u0622\u0646\u200f",
    "emoji with a joiner": "\U0001f469\u200d\U0001f4bb Ann",
    "Persian with a non-joiner": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    "punctuation only": "?!",
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_control_and_bidi_characters_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_text(text, field="skus[2].name", limit=200)
    assert refused.value.field == "skus[2].name"
    assert re.search(r"\(U\+[0-9A-F]{4}\)", refused.value.message)
    assert refused.value.message.endswith(": remove it")


@pytest.mark.parametrize("text", BLANK.values(), ids=BLANK.keys())
def test_text_that_only_looks_filled_is_refused_where_it_is_required(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_text(text, field="name", limit=200)
    assert refused.value.field == "name"
    assert "is required" in refused.value.message
    assert check_text(text, field="name", limit=200, required=False) == text.strip()


@pytest.mark.parametrize("text", ALLOWED.values(), ids=ALLOWED.keys())
def test_names_in_any_script_are_kept_as_written(text: str) -> None:
    assert check_text(f"  {text} ", field="name", limit=200) == text


def test_text_of_several_lines_keeps_its_line_breaks_and_indentation() -> None:
    markdown = "    code\r\n\tindented\n\nnext\u2028line"
    assert check_text(markdown, field="description", limit=100, lines=True) == markdown
    with pytest.raises(InvalidInput):
        check_text("fine\n\x00", field="description", limit=100, lines=True)
    with pytest.raises(InvalidInput):
        check_text("fine\n\u202e", field="description", limit=100, lines=True)


def test_length_and_type_are_checked_too() -> None:
    assert check_text("x" * 5, field="name", limit=5) == "xxxxx"
    with pytest.raises(InvalidInput, match="over 5 characters"):
        check_text("x" * 6, field="name", limit=5)
    with pytest.raises(InvalidInput, match="must be text"):
        check_text(5, field="name", limit=5)


def test_what_shows_is_letters_digits_punctuation_and_symbols() -> None:
    assert all(map(shows, "a7.€李"))
    assert not any(map(shows, " \u200b\u3164\u2800\u0301"))


# -- every place people write names and text uses it -----------------------------------


def sku(code: str = "A", name: str = "Black", currency: str = "EUR") -> Sku:
    return Sku(code, name, Money(1000, currency), Money(0, currency))


@pytest.mark.parametrize("bad", ["\u200b", "Lamp\x00", "\u202eLamp"])
def test_products_skus_and_specs_are_checked(bad: str) -> None:
    with pytest.raises(InvalidInput) as name:
        check_details(bad, "", (), ())
    assert name.value.field == "name"
    with pytest.raises(InvalidInput) as description:
        check_details("Lamp", f"ok\n{bad}" if bad != "\u200b" else "\x00", (), ())
    assert description.value.field == "description"
    with pytest.raises(InvalidInput) as spec:
        check_details("Lamp", "", (("Weight", "1 kg"), ("Colour", bad)), ())
    assert spec.value.field == "specs[1].value"
    with pytest.raises(InvalidInput) as sku_name:
        check_sku_changes((), (sku("A"), sku("B", bad)), {})
    assert sku_name.value.field == "skus[1].name"


def test_an_edit_does_not_recheck_words_it_leaves_as_they_were() -> None:
    """A product stored before the rule (its name holds a control character) can still
    get a new description; its name is refused only once someone changes it."""
    old = Product("p", "Lamp\x07", "", (sku("A", "Black\x07"),), datetime(2030, 1, 1, tzinfo=UTC))
    check_details(old.name, "new words", (), (), before=old)
    check_sku_changes(old.skus, old.skus, {})
    with pytest.raises(InvalidInput):
        check_details("Lamp\x08", "", (), (), before=old)


def test_a_launch_plan_note_an_address_and_a_refund_reason_are_checked() -> None:
    with pytest.raises(InvalidInput) as note:
        ProductionPlan.create(
            starts_on=date(2030, 1, 1), adjustments=[Adjustment(date(2030, 1, 2), 5, "ok\x00")]
        )
    assert note.value.field == "adjustments[0].note"
    address = {
        "name": "Ann",
        "line1": "Keizersgracht 1\u202e",
        "postal_code": "1015 CD",
        "city": "Amsterdam",
        "country": "NL",
        "phone": "020 123 4567",
    }
    with pytest.raises(InvalidInput) as line:
        ShippingAddress.parse(address)
    assert line.value.field == "shipping.line1"
    with pytest.raises(InvalidInput) as blank:
        ShippingAddress.parse(address | {"line1": "\u3164"})
    assert blank.value.field == "shipping.line1"
    # a pasted address's line breaks and tabs are still made spaces, as before
    assert ShippingAddress.parse(address | {"line1": "Keizersgracht\t1\n"}).line1 == (
        "Keizersgracht 1"
    )
    with pytest.raises(InvalidInput) as reason:
        refund_reason("broken\x00")
    assert reason.value.field == "reason"


@pytest.mark.parametrize("code", ["XA", "XB", "ZZ", "EU", "UN"])
def test_a_test_region_or_a_union_is_no_country_to_ship_to(code: str) -> None:
    address = {"name": "Ann", "line1": "Somewhere 1", "postal_code": "10000", "city": "Pristina"}
    address |= {"phone": "+383 38 123 456"}
    with pytest.raises(InvalidInput) as refused:
        ShippingAddress.parse(address | {"country": code})
    assert refused.value.field == "shipping.country"
    assert code not in {c for c, _ in country_names("nl")}
    assert "NL" in {c for c, _ in country_names("nl")}
    assert ShippingAddress.parse(address | {"country": "XK"}).country == "XK"  # Kosovo


def test_the_shop_checks_a_new_name_but_reads_an_old_one_back() -> None:
    with pytest.raises(InvalidInput) as name:
        Shop().with_changes(name="\u200b")
    assert name.value.field == "name"
    with pytest.raises(InvalidInput) as tagline:
        Shop().with_changes(tagline="Lamps\u202e")
    assert tagline.value.field == "tagline"
    stored = Shop(name="Lumen\x07")  # as a store written before the rule holds it
    assert stored.with_changes(accent="#000000", name="Lumen\x07").accent == "#000000"


# -- currencies --------------------------------------------------------------------------


def test_currencies_are_those_in_use_by_iso_4217() -> None:
    assert {"EUR", "USD", "JPY", "KWD", "CNY", "GBP", "XOF", "CHF"} <= CURRENCIES
    assert not {"EUX", "ABC", "XXX", "XTS", "XAU", "DEM", "HRK", "USN"} & CURRENCIES


@pytest.mark.parametrize("code", ["EUX", "XXX", "DEM"])
def test_a_new_sku_in_an_unknown_currency_is_refused(code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_sku_changes((), (sku("A"), sku("B", currency=code)), {})
    assert (refused.value.field, refused.value.code) == ("skus[1].currency", "unknown_currency")


def test_a_sku_keeps_a_currency_withdrawn_since_it_was_made() -> None:
    kuna = sku("A", currency="HRK")  # the Croatian kuna, withdrawn in 2023
    check_sku_changes((kuna,), (Sku("A", "Renamed", kuna.price, kuna.cost),), {})
    with pytest.raises(InvalidInput):
        check_sku_changes((kuna,), (kuna, sku("B", currency="HRK")), {})


def mixed(before: tuple[Sku, ...], after: tuple[Sku, ...]) -> tuple[str | None, str]:
    with pytest.raises(InvalidInput) as refused:
        check_sku_changes(before, after, {})
    return refused.value.field, refused.value.code


def test_a_products_skus_share_one_currency() -> None:
    eur, usd = sku("A"), sku("B", currency="USD")
    assert mixed((), (eur, sku("C"), usd)) == ("skus[2].currency", "mixed_currencies")
    assert mixed((eur,), (eur, usd)) == ("skus[1].currency", "mixed_currencies")  # added
    moved = sku("C", currency="USD")
    assert mixed((eur, sku("C")), (eur, moved)) == ("skus[1].currency", "mixed_currencies")
    check_sku_changes((eur,), (eur, sku("B")), {})  # the same currency is fine


def test_a_product_stored_with_two_currencies_stays_editable_and_can_be_mended() -> None:
    eur, usd = sku("A"), sku("B", currency="USD")
    check_sku_changes((eur, usd), (Sku("A", "Renamed", eur.price, eur.cost), usd), {})
    assert mixed((eur, usd), (eur, usd, sku("C", currency="USD"))) == (
        "skus[2].currency",
        "mixed_currencies",
    )
    check_sku_changes((eur, usd), (eur, sku("B")), {})  # brought to one currency


def test_a_new_launch_sells_its_batch_in_one_currency() -> None:
    made = datetime(2030, 1, 1, tzinfo=UTC)
    stored = Product("prd_1", "Lamp", "", (sku("A"), sku("B", currency="USD")), made)
    check_launch_currency(stored, {"A": 5})
    check_launch_currency(stored, {"B": 5})
    with pytest.raises(InvalidInput) as refused:
        check_launch_currency(stored, {"A": 5, "B": 0})
    assert (refused.value.field, refused.value.code) == ("batch.B", "mixed_currencies")


# -- e-mail addresses --------------------------------------------------------------------

FULL_WIDTH = "\uff41\uff4e\uff4e\uff20\uff46\uff41\uff4e\uff53\uff0e\uff54\uff45\uff53\uff54"


@pytest.mark.parametrize(
    "written",
    [
        FULL_WIDTH,
        "ANN@FANS.TEST",
        " ann@fans.test\u3000",
        "ann\uff20fans.test",
        "ann@\uff46\uff41\uff4e\uff53.test",
    ],
)
def test_every_way_of_writing_an_address_gives_the_one_kept(written: str) -> None:
    assert normalise_email(written) == "ann@fans.test"


@pytest.mark.parametrize("written", ["ann\u200b@fans.test", "ann\u202e@fans.test", "ánn@fans.test"])
def test_an_address_with_invisible_or_non_latin_letters_before_the_at_is_refused(
    written: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_email(written)
    assert refused.value.field == "email"


def _before_nfkc(email: str) -> str:
    """`normalise_email` as it was before addresses were NFKC-normalised: every row a
    store holds was written by it."""
    pattern = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
    if not pattern.match(email.strip()):
        raise InvalidInput("a valid e-mail address is required", field="email")
    local, _, domain = email.strip().lower().rpartition("@")
    if not local.isascii():
        raise InvalidInput("not ASCII", field="email")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput("a valid e-mail address is required", field="email") from None
    return f"{local}@{domain}"


_PARTS = st.text(
    st.sampled_from("abcXYZ019._+-\u00e4\u674e\uff46\uff21\u00df\u212a\u0130 "),
    min_size=1,
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(
    local=_PARTS, domain=_PARTS, tld=st.sampled_from(["test", "de", "TEST", "\uff43\uff4f\uff4d"])
)
def test_rows_written_before_are_already_in_the_one_form(local: str, domain: str, tld: str) -> None:
    """An address the earlier rule kept is found by the new one written either way, and
    the kept form is stable: old rows need no migration."""
    email = f"{local}@{domain}.{tld}"
    try:
        stored = _before_nfkc(email)
    except InvalidInput:
        return
    assert normalise_email(email) == stored
    assert normalise_email(stored) == stored


# -- JSON bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"sku":"A","sku":"B"}', "sku"),
        (b'{"sku":"A","\\u0073ku":"B"}', "sku"),
        (b'{"name":"P","skus":[{"code":"A"},{"code":"B","code":"C"}]}', "skus[1].code"),
        (b'{"a":{"b":{"c":1,"c":2}}}', "a.b.c"),
        (b'[{"x":1,"x":1}]', "[0].x"),
    ],
)
def test_a_key_given_twice_is_named_where_it_is(body: bytes, field: str) -> None:
    assert repeated_key(body) == field


@pytest.mark.parametrize(
    "body",
    [b'{"sku":"A","quantity":2}', b'{"a":{"x":1},"b":{"x":1}}', b"not json", b"", b"[" * 5000],
)
def test_bodies_without_a_repeated_key_pass(body: bytes) -> None:
    assert repeated_key(body) is None


@pytest.mark.parametrize(
    "body",
    [b'{"sku":"A","sku":"B"}', b'{"sku":"A","quantity":1,"quantity":2}', b'{"sku":{"a":1,"a":2}}'],
)
def test_the_claim_parser_refuses_a_key_given_twice(body: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_claim(body)
    assert refused.value.code == "duplicate_key"


def test_the_claim_parser_still_reads_colons_in_strings() -> None:
    claim = parse_claim(b'{"sku":"A:1","priority_code":"F:2"}')
    assert (claim.sku, claim.priority_code) == ("A:1", "F:2")


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("text/json", False),
        ("application/x-json", False),
        ("application/x-www-form-urlencoded", False),
        (None, False),
    ],
)
def test_json_is_what_the_framework_reads_as_json(content_type: str | None, json: bool) -> None:
    assert is_json(content_type) is json


def test_a_count_reads_as_english_for_one_and_for_many() -> None:
    assert [count(n, "order") for n in (0, 1, 2)] == ["0 orders", "1 order", "2 orders"]
    assert count(1, "launch", "launches") == "1 launch"
    assert count(3, "launch", "launches") == "3 launches"
