"""Production plans and ship dates: how many units are ready by a day, and when each order ships.

A plan is a starting stock plus a daily rate that changes on dated steps, and one-day
adjustments. `SupplyCurve` turns it into cumulative units ready by the end of each day and
answers both ways (`ready_by`, `first_day_covering`) in O(log changes). Orders ship in
fulfilment-queue order, each as soon as every unit up to and including its own is ready;
an order is never split.

    curve = SupplyCurve(ProductionPlan.create(starts_on=day, produced=0, rates=[...]))
    dates = schedule(curve, already_used=shipped_units, quantities=[1, 2, 1])
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import accumulate
from math import inf

from soldout.domain.errors import InvalidInput
from soldout.domain.text import check_text

__all__ = ["Adjustment", "ProductionPlan", "Rate", "SupplyCurve", "estimate", "schedule"]

MAX_UNITS_PER_DAY = 10_000_000
MAX_PRODUCED = 1_000_000_000
MAX_CHANGES = 1000
_LAST_ORDINAL = date.max.toordinal()


@dataclass(frozen=True, slots=True)
class Rate:
    """From `starts_on` the line makes `units_per_day` units a day, until the next rate."""

    starts_on: date
    units_per_day: int


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A one-day change to the output: overtime (+) or a line stop (-)."""

    on: date
    units: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class ProductionPlan:
    """`produced` units are ready on `starts_on`; each day from then on adds its output.

    Before the first rate the line makes nothing (adjustments aside); the last rate goes on
    forever. Build it with `create()`, which validates; the constructor trusts its arguments
    (rates by increasing date, adjustments on distinct dates, none before `starts_on`).
    """

    starts_on: date
    produced: int = 0
    rates: tuple[Rate, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()

    @classmethod
    def create(
        cls,
        *,
        starts_on: date,
        produced: int = 0,
        rates: Sequence[Rate] = (),
        adjustments: Sequence[Adjustment] = (),
    ) -> ProductionPlan:
        """A checked plan; errors name the field as the API shows it (`rates[2].starts_on`).

        Adjustments are kept sorted by date.
        """
        _check_day(starts_on, "starts_on")
        _check_units(produced, "produced", 0, MAX_PRODUCED)
        if len(rates) > MAX_CHANGES:
            raise InvalidInput(f"a plan has at most {MAX_CHANGES} rates", field="rates")
        if len(adjustments) > MAX_CHANGES:
            raise InvalidInput(f"a plan has at most {MAX_CHANGES} adjustments", field="adjustments")
        previous: date | None = None
        for i, rate in enumerate(rates):
            where = f"rates[{i}]"
            _check_day(rate.starts_on, f"{where}.starts_on")
            if rate.starts_on < starts_on:
                raise InvalidInput(
                    "a rate cannot start before the plan starts", field=f"{where}.starts_on"
                )
            if previous is not None and rate.starts_on <= previous:
                raise InvalidInput(
                    "rates must be in order of date, one per date", field=f"{where}.starts_on"
                )
            previous = rate.starts_on
            _check_units(rate.units_per_day, f"{where}.units_per_day", 0, MAX_UNITS_PER_DAY)
        seen: set[date] = set()
        for i, adjustment in enumerate(adjustments):
            where = f"adjustments[{i}]"
            _check_day(adjustment.on, f"{where}.on")
            if adjustment.on < starts_on:
                raise InvalidInput(
                    "an adjustment cannot be before the plan starts", field=f"{where}.on"
                )
            if adjustment.on in seen:
                raise InvalidInput("at most one adjustment per date", field=f"{where}.on")
            seen.add(adjustment.on)
            _check_units(adjustment.units, f"{where}.units", -MAX_UNITS_PER_DAY, MAX_UNITS_PER_DAY)
            check_text(adjustment.note, field=f"{where}.note", limit=500, required=False)
        ordered = tuple(sorted(adjustments, key=_adjustment_day))
        return cls(starts_on, produced, tuple(rates), ordered)

    def output_on(self, day: date) -> int:
        """Units made on `day`: its rate plus its adjustment, never below 0."""
        if day < self.starts_on:
            return 0
        i = bisect_right(self.rates, day, key=_rate_day)
        base = self.rates[i - 1].units_per_day if i else 0
        extra = next((a.units for a in self.adjustments if a.on == day), 0)
        return max(0, base + extra)


class SupplyCurve:
    """Cumulative units ready by the end of each day, from a plan.

    Kept as segments of constant daily output: `_starts[i]` (a day ordinal) begins a
    segment making `_outputs[i]` a day, with `_before[i]` units ready before it. The last
    segment has no end.
    """

    __slots__ = ("_before", "_outputs", "_starts", "plan")

    def __init__(self, plan: ProductionPlan) -> None:
        self.plan = plan
        adjustments = {a.on.toordinal(): a.units for a in plan.adjustments}
        rate_days = [r.starts_on.toordinal() for r in plan.rates]
        changes = {plan.starts_on.toordinal(), *rate_days, *adjustments}
        changes.update(day + 1 for day in adjustments)
        starts = sorted(changes)
        outputs: list[int] = []
        r = 0
        for day in starts:
            while r < len(rate_days) and rate_days[r] <= day:
                r += 1
            base = plan.rates[r - 1].units_per_day if r else 0
            outputs.append(max(0, base + adjustments.get(day, 0)))
        before = [plan.produced]
        for i in range(len(starts) - 1):
            before.append(before[-1] + outputs[i] * (starts[i + 1] - starts[i]))
        self._starts = starts
        self._outputs = outputs
        self._before = before

    @property
    def starts_on(self) -> date:
        return self.plan.starts_on

    def ready_by(self, day: date) -> int:
        """Units ready by the end of `day`; 0 before the plan starts."""
        ordinal = day.toordinal()
        i = bisect_right(self._starts, ordinal) - 1
        if i < 0:
            return 0
        return self._before[i] + self._outputs[i] * (ordinal - self._starts[i] + 1)

    def first_day_covering(self, units: int) -> date | None:
        """The first day by whose end `units` units are ready; None if that never happens."""
        if units <= self._before[0]:
            return self.plan.starts_on
        i = bisect_left(self._before, units) - 1
        return self._day_within(i, units)

    def _day_within(self, i: int, units: int) -> date | None:
        # Segment i holds the answer: _before[i] < units <= _before[i + 1] (or i is last).
        output = self._outputs[i]
        if output == 0:
            return None
        ordinal = self._starts[i] + (units - self._before[i] + output - 1) // output - 1
        return date.fromordinal(ordinal) if ordinal <= _LAST_ORDINAL else None


def schedule(curve: SupplyCurve, already_used: int, quantities: Sequence[int]) -> list[date | None]:
    """Ship dates of orders in fulfilment-queue order, behind `already_used` shipped units.

    Order k ships on the first day by whose end `already_used + sum(quantities[:k + 1])`
    units are ready; None when the plan never gets there. One pass over the orders with a
    pointer over the curve's segments: O(orders + changes).
    """
    if quantities and min(quantities) < 0:
        raise ValueError("quantities cannot be negative")
    starts, outputs, before = curve._starts, curve._outputs, curve._before
    last, latest, fromordinal = len(starts) - 1, _LAST_ORDINAL, date.fromordinal
    # the segment the current ship date is in, and the units ready when it ends
    i, start, made, output = 0, starts[0], before[0], outputs[0]
    made_by_end = before[1] if last else inf
    ready = made + output  # by the end of the current ship date
    shipping: date | None = curve.plan.starts_on
    dates: list[date | None] = []
    append = dates.append
    needs = accumulate(quantities, initial=already_used)
    next(needs)  # `already_used` itself, not an order
    for needed in needs:
        if needed > ready:
            while needed > made_by_end:
                i += 1
                start, made, output = starts[i], before[i], outputs[i]
                made_by_end = before[i + 1] if i < last else inf
            if not output:
                break
            day = start + (needed - made - 1) // output  # needed > made here
            if day > latest:
                break
            ready = made + output * (day - start + 1)
            shipping = fromordinal(day)
        append(shipping)
    dates.extend([None] * (len(quantities) - len(dates)))
    return dates


def estimate(curve: SupplyCurve, units_ahead: int, quantity: int) -> date | None:
    """Ship date of a new order of `quantity` units placed behind `units_ahead` units."""
    return curve.first_day_covering(units_ahead + quantity)


def _check_day(value: object, field: str) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput("must be a date (YYYY-MM-DD)", field=field)


def _check_units(value: object, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("must be a whole number", field=field)
    if not low <= value <= high:
        raise InvalidInput(f"must be between {low} and {high}", field=field)


def _rate_day(rate: Rate) -> date:
    return rate.starts_on


def _adjustment_day(adjustment: Adjustment) -> date:
    return adjustment.on
