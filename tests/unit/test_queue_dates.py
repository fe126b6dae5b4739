"""A fulfilment queue dates no order before the day it was paid, and estimates no date
before today: a plan that started in the past made its units before the orders existed
(a fan was told a ship date weeks gone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from soldout.domain.claims import Order
from soldout.domain.fulfilment import ProductionPlan, Rate, SupplyCurve
from soldout.engine.fulfilment import Fulfilment

NOV_1, DEC_7 = date(2026, 11, 1), date(2026, 12, 7)
Step = tuple[str, int, int]  # what happens, the units of an order paid, which order


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


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["pay", "refund", "ship"]), st.integers(1, 3), st.integers()),
        max_size=40,
    )
)
def test_after_each_change_every_open_order_is_dated_as_the_plan_says(steps: list[Step]) -> None:
    """Paid (in or out of payment order), refunded and shipped orders: after each change,
    every open order's date is the one the plan gives it from scratch."""
    plan = ProductionPlan.create(starts_on=NOV_1, produced=3, rates=[Rate(NOV_1, 2)])
    queue = Fulfilment()
    queue.set_plan("prd", "A", plan)
    curve = SupplyCurve(plan)
    open_: list[Order] = []
    shipped = 0
    for n, (kind, quantity, pick) in enumerate(steps):
        if kind == "pay":
            order = paid(n, NOV_1 + timedelta(days=pick % 40), quantity)
            queue.place("prd", order)
            open_.append(order)
        elif open_:
            order = open_.pop(pick % len(open_))
            if kind == "refund":
                queue.remove("prd", order)
            else:
                queue.shipped("prd", "A", [order])
                order.ship(datetime(2026, 12, 1, tzinfo=UTC), "DHL", None)
                shipped += order.quantity
        # each open order, in payment order, ships once the units ahead of it and its own
        # are made, and not before the day it was paid
        expected, units = {}, shipped
        for order in sorted(open_, key=lambda o: (o.paid_at, o.id)):
            units += order.quantity
            expected[order.id] = max(curve.first_day_covering(units), order.paid_at.date())
        assert {o.id: o.ship_date for o in open_} == expected
