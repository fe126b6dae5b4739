"""A fulfilment queue dates no order before the day it was paid, and estimates no date
before today: a plan that started in the past made its units before the orders existed
(a fan was told a ship date weeks gone)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from soldout.domain.claims import Order
from soldout.domain.fulfilment import ProductionPlan, Rate
from soldout.engine.fulfilment import Fulfilment

NOV_1, DEC_7 = date(2026, 11, 1), date(2026, 12, 7)


def paid(n: int, on: date, quantity: int = 1) -> Order:
    at = datetime(on.year, on.month, on.day, 12, n, tzinfo=UTC)
    return Order(f"ord_{n}", f"clm_{n}", "lch", "fan", "A", quantity, 100, "EUR", at, "test",
                 f"ref_{n}", f"key_{n}")  # fmt: skip


def test_units_made_before_an_order_ship_the_day_it_was_paid() -> None:
    queue = Fulfilment()
    # two a day since Nov 1: the units for these orders were all made in early November
    queue.set_plan("prd", "A", ProductionPlan.create(starts_on=NOV_1, rates=[Rate(NOV_1, 2)]))
    early, late = paid(1, date(2026, 11, 20)), paid(2, DEC_7)
    queue.place("prd", early)
    queue.place("prd", late)
    assert (early.ship_date, late.ship_date) == (date(2026, 11, 20), DEC_7)
    assert queue.queue("prd", "A").estimate(1, DEC_7) == DEC_7
    assert queue.queue("prd", "A").estimate(1, NOV_1) == date(2026, 11, 2)  # (made then)


def test_a_plan_set_after_the_orders_dates_them_from_their_payment_day_too() -> None:
    queue = Fulfilment()
    orders = [paid(1, date(2026, 11, 20)), paid(2, DEC_7, quantity=3)]
    for order in orders:
        queue.place("prd", order)
    assert [o.ship_date for o in orders] == [None, None]  # no plan yet
    changes = queue.set_plan("prd", "A", ProductionPlan.create(starts_on=NOV_1, produced=10))
    assert [o.ship_date for o in orders] == [date(2026, 11, 20), DEC_7]
    assert [c.after for c in changes] == [date(2026, 11, 20), DEC_7]
    # a plan later than the payments is left as it is
    later = date(2027, 1, 4)
    queue.set_plan("prd", "A", ProductionPlan.create(starts_on=later, produced=10))
    assert [o.ship_date for o in orders] == [later, later]
