"""A shipping label in its country's order, and a state or province where couriers need
one (a US address was printed "94043 Mountain View" and taken without its state)."""

from __future__ import annotations

import pytest

from soldout.domain.addresses import ShippingAddress
from soldout.domain.errors import InvalidInput

BASE = {"name": "Ann Lee", "line1": "1 Main St", "line2": ""}


@pytest.mark.parametrize(
    ("where", "label"),
    [
        (
            {"postal_code": "94043", "city": "Mountain View", "region": "CA", "country": "US",
             "phone": "+1 650 253 0000"},
            ["Mountain View, CA 94043", "United States"],
        ),
        (
            {"postal_code": "SW1A 2AA", "city": "London", "country": "GB",
             "phone": "+44 20 7946 0958"},
            ["London", "SW1A 2AA", "United Kingdom"],
        ),
        (
            {"postal_code": "1015 CD", "city": "Amsterdam", "country": "NL",
             "phone": "020 123 4567"},
            ["1015 CD Amsterdam", "Netherlands"],
        ),
    ],
)  # fmt: skip
def test_a_label_follows_its_countrys_order(where: dict[str, str], label: list[str]) -> None:
    address = ShippingAddress.parse({**BASE, **where})
    assert address.lines("en") == ["Ann Lee", "1 Main St", *label]


@pytest.mark.parametrize(
    ("country", "postal_code", "phone"),
    [("US", "62701", "+1 217 555 0100"), ("CA", "K1A 0B1", "+1 613 555 0100"),
     ("AU", "2000", "+61 2 9374 4000")],
)  # fmt: skip
def test_where_couriers_need_a_state_it_is_asked_for(
    country: str, postal_code: str, phone: str
) -> None:
    raw = {**BASE, "postal_code": postal_code, "city": "Springfield", "country": country}
    with pytest.raises(InvalidInput) as refused:
        ShippingAddress.parse({**raw, "phone": phone})
    assert refused.value.field == "shipping.region"
    assert ShippingAddress.parse({**raw, "phone": phone, "region": "XX"}).region == "XX"


SHENZHEN = {"postal_code": "518000", "country": "CN", "phone": "+86 755 1234 5678"}


def test_an_address_in_china_goes_from_the_country_down_to_the_name_in_chinese() -> None:
    written = ShippingAddress.parse(
        {**SHENZHEN, "name": "张三", "line1": "科技园路1号", "city": "深圳市", "region": "广东省"}
    )
    expected = ["518000", "广东省深圳市", "科技园路1号", "张三"]
    assert written.lines("zh_Hans") == ["中国", *expected]
    assert written.lines("en") == ["China", *expected]  # the maker's packing view too
    latin = ShippingAddress.parse(
        {**SHENZHEN, "name": "Zhang San", "line1": "1 Keji Road", "city": "Shenzhen"}
    )
    assert latin.lines("zh_Hans") == ["中国", "518000", "Shenzhen", "1 Keji Road", "Zhang San"]
    assert latin.lines("en") == ["Zhang San", "1 Keji Road", "518000 Shenzhen", "China"]
