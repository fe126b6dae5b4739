"""The shop's time zone and contact address as the domain keeps them: a time the maker
types on the shop's wall clock becomes the right instant (across a daylight-saving
change, the hour skipped refused, the hour repeated read as its first occurrence), a
time is shown with its zone's abbreviation, and a bad zone or address is refused with
its field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from soldout.domain.errors import InvalidInput
from soldout.domain.shop import Shop
from soldout.domain.shop_time import instant, said_at, shop_zone

NEW_YORK = shop_zone("America/New_York")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (datetime(2030, 3, 9, 9, 0), datetime(2030, 3, 9, 14, 0, tzinfo=UTC)),  # EST, -5
        (datetime(2030, 3, 10, 1, 59), datetime(2030, 3, 10, 6, 59, tzinfo=UTC)),  # last EST
        (datetime(2030, 3, 10, 3, 0), datetime(2030, 3, 10, 7, 0, tzinfo=UTC)),  # first EDT
        (datetime(2030, 3, 10, 9, 0), datetime(2030, 3, 10, 13, 0, tzinfo=UTC)),  # EDT, -4
        # 01:30 happens twice on 3 November: the first (EDT) is the one taken
        (datetime(2030, 11, 3, 1, 30), datetime(2030, 11, 3, 5, 30, tzinfo=UTC)),
        (datetime(2030, 11, 3, 2, 30), datetime(2030, 11, 3, 7, 30, tzinfo=UTC)),  # EST
    ],
)
def test_a_typed_time_is_the_instant_on_the_shops_wall_clock(
    typed: datetime, stored: datetime
) -> None:
    assert instant(typed, NEW_YORK, field="sale_opens_at") == stored


def test_a_time_the_clocks_skip_is_refused_naming_the_jump() -> None:
    with pytest.raises(InvalidInput) as refused:
        instant(datetime(2030, 3, 10, 2, 30), NEW_YORK, field="sale_opens_at")
    assert (refused.value.code, refused.value.field) == ("nonexistent_time", "sale_opens_at")
    assert "from 02:00 straight to 03:00" in refused.value.message
    assert "America/New_York" in refused.value.message


def test_a_typed_offset_wins_over_the_zone() -> None:
    typed = datetime.fromisoformat("2030-03-10T02:30:00+00:00")
    assert instant(typed, NEW_YORK, field="x") == datetime(2030, 3, 10, 2, 30, tzinfo=UTC)


def test_a_time_is_said_with_the_zones_abbreviation_or_offset() -> None:
    moment = datetime(2030, 11, 3, 5, 30, tzinfo=UTC)
    assert said_at(moment, NEW_YORK) == "2030-11-03 01:30:00 EDT"
    assert said_at(moment.replace(hour=6), NEW_YORK) == "2030-11-03 01:30:00 EST"
    assert said_at(moment, shop_zone("UTC"), seconds=False) == "2030-11-03 05:30 UTC"
    # tzdata has no letters for São Paulo's zone ("-03"): the offset is named instead
    assert said_at(moment, shop_zone("America/Sao_Paulo")) == "2030-11-03 02:30:00 UTC-03:00"


@pytest.mark.parametrize("name", ["Mars/Base", "localtime", "../../etc/passwd", "", "EST5EDT "])
def test_an_unknown_zone_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Shop().with_changes(time_zone=name)
    assert (refused.value.code, refused.value.field) == ("unknown_time_zone", "time_zone")


@pytest.mark.parametrize(
    "address", ["not an address", "a@b", "x@@y.test", '"q"@shop.test', "a<b>@shop.test", "é@x.io"]
)
def test_a_malformed_contact_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Shop().with_changes(contact_email=address)
    assert refused.value.field == "contact_email"


def test_a_contact_address_is_kept_in_one_form_and_a_stored_zone_read_back() -> None:
    shop = Shop().with_changes(contact_email="Hello@Lumen.TEST", time_zone="Europe/Amsterdam")
    assert shop.contact_email == "hello@lumen.test"
    assert getattr(shop.zone, "key", None) == "Europe/Amsterdam"
    # a zone this system no longer knows still shows the shop, in UTC
    assert Shop(time_zone="Gone/Zone").zone is UTC
