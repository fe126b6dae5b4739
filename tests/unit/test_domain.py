from datetime import UTC, datetime, timedelta

import pytest

from soldout.domain.errors import InvalidInput
from soldout.domain.fans import normalise_email
from soldout.domain.launches import Launch, LaunchRules, Phase, check_schedule
from soldout.domain.money import Money
from soldout.engine.allocation import SkuStock

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


def launch(**changes: object) -> Launch:
    base = Launch(
        id="l",
        product_id="p",
        title="t",
        sale_opens_at=T0,
        rules=LaunchRules(),
        batch={"A": 1},
        created_at=T0 - timedelta(days=1),
        reservations_open_at=T0 - timedelta(hours=1),
        sale_closes_at=T0 + timedelta(hours=1),
    )
    return base.with_changes(**changes)


@pytest.mark.parametrize(
    ("moment", "phase"),
    [
        (T0 - timedelta(hours=2), Phase.SCHEDULED),
        (T0 - timedelta(minutes=1), Phase.RESERVATIONS_OPEN),
        (T0, Phase.ON_SALE),
        (T0 + timedelta(minutes=59), Phase.ON_SALE),
        (T0 + timedelta(hours=1), Phase.CLOSED),
    ],
)
def test_phase_follows_the_clock(moment: datetime, phase: Phase) -> None:
    assert launch().phase(moment) is phase


def test_draft_and_cancelled_launches_are_never_on_sale() -> None:
    assert launch(published=False).phase(T0) is Phase.DRAFT
    assert launch(cancelled_at=T0 - timedelta(days=1)).phase(T0) is Phase.CLOSED


def test_schedule_must_be_in_order() -> None:
    with pytest.raises(InvalidInput) as closes:
        check_schedule(None, T0, T0)
    assert closes.value.field == "sale_closes_at"
    with pytest.raises(InvalidInput) as opens:
        check_schedule(T0 + timedelta(seconds=1), T0, None)
    assert opens.value.field == "reservations_open_at"


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"per_fan_limit": 0}, "per_fan_limit"),
        ({"payment_window_seconds": 1}, "payment_window_seconds"),
    ],
)
def test_rules_are_validated(rules: dict[str, int], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        LaunchRules(**rules)  # type: ignore[arg-type]
    assert error.value.field == field


def test_money_is_integer_minor_units_with_a_currency() -> None:
    assert Money(1999, "EUR").times(3) == Money(5997, "EUR")
    with pytest.raises(InvalidInput):
        Money(19.99, "EUR")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Money(100, "euro")
    with pytest.raises(ValueError, match="cannot add"):
        _ = Money(1, "EUR") + Money(1, "USD")


def test_stock_moves_keep_every_pool_non_negative() -> None:
    stock = SkuStock(batch=3)
    assert stock.set_aside_units(1)
    assert not stock.take_open(3)  # all or nothing: only 2 are open
    assert stock.take_open(2)
    assert stock.available == 0
    assert stock.take_set_aside()
    assert not stock.take_set_aside()
    stock.settle(1)
    stock.release(2)
    assert (stock.available, stock.held, stock.paid, stock.set_aside) == (2, 0, 1, 0)
    with pytest.raises(AssertionError):
        stock.release(1)
    assert not stock.grow(2)


def test_an_e_mail_address_is_kept_in_a_form_every_mail_server_takes() -> None:
    assert normalise_email(" Ann@Example.COM ") == "ann@example.com"
    assert normalise_email("jurgen@münchen.de") == "jurgen@xn--mnchen-3ya.de"
    with pytest.raises(InvalidInput) as refused:
        normalise_email("jürgen@example.de")  # a relay without SMTPUTF8 could never deliver
    assert refused.value.field == "email"
