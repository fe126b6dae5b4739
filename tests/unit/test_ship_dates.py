"""Ship dates from a production plan. Each plan is small enough to check by hand: the
comments give the units ready by the end of each day (the curve), and an order of
cumulative position n ships on the first day whose figure is at least n."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soldout.domain.errors import InvalidInput
from soldout.domain.fulfilment import (
    Adjustment,
    ProductionPlan,
    Rate,
    SupplyCurve,
    estimate,
    schedule,
)


def jan(n: int) -> date:
    return date(2030, 1, n)


START = jan(1)


def curve(
    starts_on: date = START,
    produced: int = 0,
    rates: list[Rate] | None = None,
    adjustments: list[Adjustment] | None = None,
) -> SupplyCurve:
    plan = ProductionPlan.create(
        starts_on=starts_on,
        produced=produced,
        rates=rates or [],
        adjustments=adjustments or [],
    )
    return SupplyCurve(plan)


def test_produced_stock_ships_first_on_the_start_day() -> None:
    # 5 made before jan 10; the line makes 2/day from jan 12.
    # ready: jan10 5, jan11 5, jan12 7, jan13 9
    c = curve(starts_on=jan(10), produced=5, rates=[Rate(jan(12), 2)])
    assert [c.ready_by(jan(d)) for d in (9, 10, 11, 12, 13)] == [0, 5, 5, 7, 9]
    assert schedule(c, 0, [1] * 8) == [jan(10)] * 5 + [jan(12)] * 2 + [jan(13)]


def test_a_ramp_moves_orders_across_the_step() -> None:
    # 1,000/day from jan 1, 3,000/day from jan 4.
    # ready: jan1 1000, jan2 2000, jan3 3000, jan4 6000, jan5 9000, jan6 12000
    c = curve(rates=[Rate(jan(1), 1000), Rate(jan(4), 3000)])
    quantities = [1000, 1000, 1000, 1, 2999, 1, 3000]
    # cumulative:   1000  2000  3000  3001 6000  6001 9001
    assert schedule(c, 0, quantities) == [
        jan(1),
        jan(2),
        jan(3),
        jan(4),
        jan(4),
        jan(5),
        jan(6),
    ]
    assert c.first_day_covering(3000) == jan(3)
    assert c.first_day_covering(3001) == jan(4)


def test_orders_skip_a_gap_in_the_plan() -> None:
    # 10/day, nothing from jan 3 to jan 7, 10/day again from jan 8.
    # ready: jan1 10, jan2 20, jan3..jan7 20, jan8 30, jan9 40
    c = curve(rates=[Rate(jan(1), 10), Rate(jan(3), 0), Rate(jan(8), 10)])
    dates = schedule(c, 0, [5] * 7)
    # cumulative 5 10 15 20 25 30 35
    assert dates == [jan(1), jan(1), jan(2), jan(2), jan(8), jan(8), jan(9)]
    assert c.ready_by(jan(7)) == 20


def test_an_order_of_two_is_not_split_across_days() -> None:
    # 3/day: ready jan1 3, jan2 6, jan3 9
    c = curve(rates=[Rate(jan(1), 3)])
    # cumulative 2, 4, 6, 7, 8: the second order has only 1 of its 2 units on jan 1
    assert schedule(c, 0, [2, 2, 2, 1, 1]) == [jan(1), jan(2), jan(2), jan(3), jan(3)]


def test_the_last_unit_of_a_day_ships_that_day() -> None:
    c = curve(rates=[Rate(jan(1), 3)])  # ready jan1 3, jan2 6
    assert schedule(c, 0, [1, 1, 1, 1]) == [jan(1), jan(1), jan(1), jan(2)]


def test_a_line_stop_delays_orders() -> None:
    # 10/day; jan 2 the line stops (-10), jan 3 it loses 4 units (-4).
    # output: jan1 10, jan2 0, jan3 6, jan4 10
    # ready:  jan1 10, jan2 10, jan3 16, jan4 26
    c = curve(
        rates=[Rate(jan(1), 10)],
        adjustments=[Adjustment(jan(2), -10, "line stop"), Adjustment(jan(3), -4)],
    )
    assert [c.plan.output_on(jan(d)) for d in (1, 2, 3, 4)] == [10, 0, 6, 10]
    # cumulative 5 10 15 20 25
    assert schedule(c, 0, [5] * 5) == [jan(1), jan(1), jan(3), jan(4), jan(4)]


def test_an_adjustment_never_makes_output_negative() -> None:
    # 10/day; jan 2 an adjustment of -50 makes 0 that day, not -40.
    # ready: jan1 10, jan2 10, jan3 20
    c = curve(rates=[Rate(jan(1), 10)], adjustments=[Adjustment(jan(2), -50)])
    assert c.plan.output_on(jan(2)) == 0
    assert [c.ready_by(jan(d)) for d in (1, 2, 3)] == [10, 10, 20]
    assert schedule(c, 0, [10, 10]) == [jan(1), jan(3)]


def test_overtime_brings_orders_forward() -> None:
    # 10/day; jan 2 overtime +5. ready: jan1 10, jan2 25, jan3 35
    c = curve(rates=[Rate(jan(1), 10)], adjustments=[Adjustment(jan(2), 5, "overtime")])
    # cumulative 10 20 25 26: the unit at 25 ships jan 2 only thanks to the overtime
    assert schedule(c, 0, [10, 10, 5, 1]) == [jan(1), jan(2), jan(2), jan(3)]
    # an adjustment on a day with no rate is that day's whole output
    gap = curve(rates=[Rate(jan(3), 1)], adjustments=[Adjustment(jan(1), 4)])
    assert [gap.ready_by(jan(d)) for d in (1, 2, 3)] == [4, 4, 5]


def test_a_final_rate_of_zero_leaves_later_orders_without_a_date() -> None:
    # 4/day for three days, then nothing: ready 4, 8, 12 and 12 forever
    c = curve(rates=[Rate(jan(1), 4), Rate(jan(4), 0)])
    assert schedule(c, 0, [4] * 6) == [jan(1), jan(2), jan(3), None, None, None]
    assert c.first_day_covering(12) == jan(3)
    assert c.first_day_covering(13) is None
    assert estimate(c, 12, 1) is None


def test_a_smaller_rate_moves_exactly_the_orders_it_no_longer_covers() -> None:
    ones = [1] * 12  # cumulative 1..12
    before = schedule(curve(rates=[Rate(jan(1), 4)]), 0, ones)
    # was 4/day: ready 4, 8, 12 -> units 1-4 jan1, 5-8 jan2, 9-12 jan3
    assert before == [jan(1)] * 4 + [jan(2)] * 4 + [jan(3)] * 4
    after = schedule(curve(rates=[Rate(jan(1), 4), Rate(jan(2), 3)]), 0, ones)
    # now 3/day from jan 2: ready 4, 7, 10, 13 -> 1-4 jan1, 5-7 jan2, 8-10 jan3, 11-12 jan4
    assert after == [jan(1)] * 4 + [jan(2)] * 3 + [jan(3)] * 3 + [jan(4)] * 2
    slipped = [k for k in range(12) if after[k] != before[k]]
    assert slipped == [7, 10, 11]  # units 8, 11 and 12, each by one day


def test_units_already_shipped_move_everyone_back() -> None:
    c = curve(rates=[Rate(jan(1), 10)])  # ready 10, 20, 30
    assert schedule(c, 0, [5, 5, 5]) == [jan(1), jan(1), jan(2)]  # 5 10 15
    assert schedule(c, 10, [5, 5, 5]) == [jan(2), jan(2), jan(3)]  # 15 20 25
    assert schedule(c, 7, [5, 5, 5]) == [jan(2), jan(2), jan(3)]  # 12 17 22
    assert schedule(c, 16, [4, 1]) == [jan(2), jan(3)]  # 20 21


def test_estimate_is_the_next_place_in_the_schedule() -> None:
    c = curve(produced=3, rates=[Rate(jan(2), 1000), Rate(jan(4), 3000)], adjustments=[])
    # ready: jan1 3, jan2 1003, jan3 2003, jan4 5003
    queue = [1, 2, 1, 999, 1000, 2]  # cumulative 1 3 4 1003 2003 2005
    assert schedule(c, 0, queue) == [jan(1), jan(1), jan(2), jan(2), jan(3), jan(4)]
    for used in (0, 1, 2000):
        for quantity in (1, 2, 3000):
            expected = schedule(c, used, [*queue, quantity])[-1]
            assert estimate(c, used + sum(queue), quantity) == expected
    assert estimate(c, 2003, 1) == jan(4)
    assert estimate(c, 0, 3) == jan(1)


def test_nothing_asked_ships_on_the_start_day_and_nothing_is_ready_before() -> None:
    c = curve(starts_on=jan(5), rates=[Rate(jan(9), 1)])
    assert c.first_day_covering(0) == jan(5)
    assert c.first_day_covering(-3) == jan(5)
    assert c.ready_by(jan(4)) == 0
    assert schedule(c, 0, []) == []
    assert schedule(c, 0, [0]) == [jan(5)]


def test_the_last_rate_goes_on_forever_without_walking_the_days() -> None:
    c = curve(rates=[Rate(jan(1), 1)])  # unit n is ready on jan 1 + (n - 1) days
    far = jan(1) + timedelta(days=2_000_000)
    assert schedule(c, 2_000_000, [1, 1]) == [far, far + timedelta(days=1)]
    assert c.ready_by(far) == 2_000_001
    # a day after 9999-12-31 does not exist: never
    assert c.first_day_covering(10**9) is None
    assert schedule(c, 10**9, [1]) == [None]


def test_schedule_refuses_negative_quantities() -> None:
    with pytest.raises(ValueError, match="negative"):
        schedule(curve(rates=[Rate(jan(1), 1)]), 0, [1, -1])


def test_create_keeps_adjustments_in_date_order() -> None:
    plan = ProductionPlan.create(
        starts_on=jan(1),
        produced=0,
        rates=[],
        adjustments=[Adjustment(jan(3), 1), Adjustment(jan(2), 2)],
    )
    assert [a.on for a in plan.adjustments] == [jan(2), jan(3)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_on": datetime(2030, 1, 1, 9)}, "starts_on"),
        ({"produced": -1}, "produced"),
        ({"produced": True}, "produced"),
        ({"rates": [Rate(date(2029, 12, 31), 5)]}, "rates[0].starts_on"),
        ({"rates": [Rate(jan(1), 5), Rate(jan(3), 5), Rate(jan(2), 5)]}, "rates[2].starts_on"),
        ({"rates": [Rate(jan(1), 5), Rate(jan(1), 6)]}, "rates[1].starts_on"),
        ({"rates": [Rate(jan(1), -1)]}, "rates[0].units_per_day"),
        ({"rates": [Rate(jan(1), 5), Rate(jan(2), 10_000_001)]}, "rates[1].units_per_day"),
        ({"rates": [Rate(jan(1) + timedelta(days=i), 1) for i in range(1001)]}, "rates"),
        ({"adjustments": [Adjustment(date(2029, 12, 31), 1)]}, "adjustments[0].on"),
        ({"adjustments": [Adjustment(jan(2), 1), Adjustment(jan(2), -1)]}, "adjustments[1].on"),
        (
            {"adjustments": [Adjustment(jan(2), 1), Adjustment(jan(3), -10_000_001)]},
            "adjustments[1].units",
        ),
        (
            {"adjustments": [Adjustment(jan(1) + timedelta(days=i), 1) for i in range(1001)]},
            "adjustments",
        ),
    ],
)
def test_invalid_plans_name_the_field(changes: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {
        "starts_on": jan(1),
        "produced": 0,
        "rates": [],
        "adjustments": [],
        **changes,
    }
    with pytest.raises(InvalidInput) as caught:
        ProductionPlan.create(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


# -- property: schedule() against a naive day-by-day walk ------------------------------------


def naive_output(rates: list[Rate], adjustments: list[Adjustment], day: date) -> int:
    base = 0
    for rate in rates:
        if rate.starts_on <= day:
            base = rate.units_per_day
    extra = sum(a.units for a in adjustments if a.on == day)
    return max(0, base + extra)


def naive_schedule(
    produced: int,
    rates: list[Rate],
    adjustments: list[Adjustment],
    already_used: int,
    quantities: list[int],
) -> list[date | None]:
    last_change = max([START] + [r.starts_on for r in rates] + [a.on for a in adjustments])
    output_after = rates[-1].units_per_day if rates else 0
    day = START
    ready = produced + naive_output(rates, adjustments, day)
    needed = already_used
    dates: list[date | None] = []
    for quantity in quantities:
        needed += quantity
        while ready < needed and not (day > last_change and output_after == 0):
            day += timedelta(days=1)
            ready += naive_output(rates, adjustments, day)
        dates.append(day if ready >= needed else None)
    return dates


@st.composite
def plans(draw: st.DrawFn) -> tuple[int, list[Rate], list[Adjustment]]:
    produced = draw(st.integers(0, 10))
    rate_days = sorted(draw(st.lists(st.integers(0, 15), max_size=5, unique=True)))
    rates = [Rate(START + timedelta(days=d), draw(st.integers(0, 4))) for d in rate_days]
    adjustment_days = draw(st.lists(st.integers(0, 20), max_size=5, unique=True))
    adjustments = [
        Adjustment(START + timedelta(days=d), draw(st.integers(-5, 5))) for d in adjustment_days
    ]
    return produced, rates, adjustments


@settings(max_examples=300)
@given(
    plan=plans(),
    already_used=st.integers(0, 20),
    quantities=st.lists(st.integers(1, 3), max_size=40),
)
def test_schedule_matches_a_day_by_day_walk(
    plan: tuple[int, list[Rate], list[Adjustment]], already_used: int, quantities: list[int]
) -> None:
    produced, rates, adjustments = plan
    c = curve(START, produced, rates, adjustments)
    dates = schedule(c, already_used, quantities)
    assert dates == naive_schedule(produced, rates, adjustments, already_used, quantities)
    known = [d for d in dates if d is not None]
    assert known == sorted(known)
    assert dates[len(known) :] == [None] * (len(dates) - len(known))
    for quantity in (1, 2):
        expected = naive_schedule(
            produced, rates, adjustments, already_used, [*quantities, quantity]
        )[-1]
        assert estimate(c, already_used + sum(quantities), quantity) == expected


@given(plan=plans(), offset=st.integers(-3, 40))
def test_ready_by_is_the_sum_of_daily_output(
    plan: tuple[int, list[Rate], list[Adjustment]], offset: int
) -> None:
    produced, rates, adjustments = plan
    c = curve(START, produced, rates, adjustments)
    day = START + timedelta(days=offset)
    walked = range(offset + 1)
    total = produced + sum(
        naive_output(rates, adjustments, START + timedelta(days=d)) for d in walked
    )
    assert c.ready_by(day) == (total if offset >= 0 else 0)
    if offset >= 0:
        assert c.plan.output_on(day) == naive_output(rates, adjustments, day)
