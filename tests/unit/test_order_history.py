"""An order's history read as what each line changed (`domain/order_history.py`), from the
lines as the engine writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from soldout.domain.claims import OrderEvent
from soldout.domain.order_history import read

PAID = datetime(2030, 1, 1, 12, tzinfo=UTC)


def line(minutes: int, kind: str, detail: str) -> OrderEvent:
    return OrderEvent("ord_1", PAID + timedelta(minutes=minutes), kind, detail)


def test_an_order_paid_without_a_date_is_given_one_then_ships_and_gets_its_tracking() -> None:
    lines = read(
        [
            line(0, "paid", "paid EUR 199.00"),  # "ship date to follow": no line of its own
            line(5, "scheduled", "ships on 2030-02-01"),
            line(9, "shipped", "shipped by DHL"),
            line(10, "tracking_changed", "DHL, tracking JD0001"),
        ]
    )
    assert (lines[1].change, lines[1].day, lines[1].before_day) == ("given", date(2030, 2, 1), None)
    assert (lines[2].carrier, lines[2].tracking) == ("DHL", None)
    assert (lines[3].tracking, lines[3].before_tracking) == ("JD0001", None)


def test_a_date_with_the_payment_is_set_then_moved_and_removed() -> None:
    lines = read(
        [
            line(0, "paid", "paid EUR 199.00"),
            line(0, "scheduled", "ships on 2030-02-01"),
            line(5, "ship_date_changed", "now ships on 2030-02-09"),
            line(6, "ship_date_changed", "has no ship date until more is made"),
        ]
    )
    changes = [(x.change, x.day, x.before_day) for x in lines[1:]]
    assert changes == [
        ("set", date(2030, 2, 1), None),
        ("changed", date(2030, 2, 9), date(2030, 2, 1)),
        ("removed", None, date(2030, 2, 9)),
    ]
