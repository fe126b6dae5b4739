"""Benchmark of schedule(): ship dates for 1M queued orders, against a baseline in the same run.

    .venv/bin/python benchmarks/ship_dates.py [--orders 1000000] [--repeat 5]

One process, no I/O. Orders of 1 or 2 units (seeded), a plan with a few dozen dated
changes (a weekly ramp, a two-week gap, line stops and overtime), then:
  (a) baseline: a bare Python loop over the same quantities appending the running sum;
  (b) schedule() over the whole queue, on that plan (many orders share a day);
  (c) schedule() on a plan of 1 unit/day: almost every order starts a new day (worst case).
Best of --repeat runs each. Prints seconds for the queue, ns per order and ratio b/a, c/a,
and checks a sample of dates against SupplyCurve.first_day_covering.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from itertools import accumulate

from soldout.domain.fulfilment import Adjustment, ProductionPlan, Rate, SupplyCurve, schedule

START = date(2030, 3, 2)


def busy_plan() -> ProductionPlan:
    rates = [Rate(START + timedelta(weeks=w), 1000 + 250 * (w % 9)) for w in range(30)]
    rates[10] = Rate(rates[10].starts_on, 0)  # a two-week gap
    rates[11] = Rate(rates[11].starts_on, 0)
    adjustments = [
        Adjustment(START + timedelta(days=5 + 17 * k), -600 if k % 2 else 400, "stop/overtime")
        for k in range(12)
    ]
    return ProductionPlan.create(
        starts_on=START, produced=20_000, rates=rates, adjustments=adjustments
    )


def slow_plan() -> ProductionPlan:
    return ProductionPlan.create(
        starts_on=START, produced=0, rates=[Rate(START, 1)], adjustments=[]
    )


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def running_sums(quantities: list[int]) -> list[int]:
    total = 0
    sums = []
    for quantity in quantities:
        total += quantity
        sums.append(total)
    return sums


def check(curve: SupplyCurve, quantities: list[int], dates: list[date | None]) -> None:
    needed = list(accumulate(quantities))
    for k in random.Random(7).sample(range(len(quantities)), min(1000, len(quantities))):
        assert dates[k] == curve.first_day_covering(needed[k]), k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(42)
    quantities = [rng.choice((1, 2)) for _ in range(args.orders)]
    busy, slow = SupplyCurve(busy_plan()), SupplyCurve(slow_plan())
    changes = len(busy.plan.rates) + len(busy.plan.adjustments)

    a = best_of(args.repeat, lambda: running_sums(quantities))
    b = best_of(args.repeat, lambda: schedule(busy, 0, quantities))
    c = best_of(args.repeat, lambda: schedule(slow, 0, quantities))

    busy_dates, slow_dates = schedule(busy, 0, quantities), schedule(slow, 0, quantities)
    check(busy, quantities, busy_dates)
    check(slow, quantities, slow_dates)

    def span(dates: list[date | None]) -> str:
        last = dates[-1]
        return f"{(last - START).days + 1:,} days" if last else "never reached"

    units = sum(quantities)
    print(f"\n== ship dates: {args.orders:,} orders, {units:,} units (best of {args.repeat}) ==")
    print(f"{'run':<44}{'seconds':>9}{'ns/order':>10}{'ratio':>8}  last order ships")
    for label, seconds, dates in (
        ("(a) baseline: Python loop, running sum", a, None),
        (f"(b) schedule(), plan of {changes} dated changes", b, busy_dates),
        ("(c) schedule(), 1 unit/day (a day per order)", c, slow_dates),
    ):
        shown = f"after {span(dates)}" if dates else "-"
        print(
            f"{label:<44}{seconds:>9.3f}{seconds / args.orders * 1e9:>10.0f}"
            f"{seconds / a:>8.2f}  {shown}"
        )
    print(f"seconds for 1M orders, schedule(): {b / args.orders * 1e6:.3f} (typical plan)")
    print("sampled dates agree with SupplyCurve.first_day_covering")


if __name__ == "__main__":
    main()
