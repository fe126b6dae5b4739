"""Benchmark of a payment's place in its fulfilment queue: an order paid behind many open
orders of its SKU, against one paid behind a few, in the same run.

    .venv/bin/python benchmarks/queue_place.py [--orders 100000] [--repeat 5]

One process, no I/O: the `Fulfilment` queues the engine keeps in memory, with a
production plan, as a launch of one SKU leaves them. Each paid order takes its place last
and is given its ship date (`Fulfilment.place`, which every payment runs), then:
  (a) baseline: 2,000 orders placed in a queue of 100 open orders;
  (b) 2,000 orders placed in a queue of `--orders` open orders (a launch of one SKU that
      sold that many units and has shipped none yet).
Best of --repeat runs each. Prints microseconds per order and the ratio b/a: about 1 when
a payment costs the same however long its queue (it once added up the whole queue: at
100,000 open orders a payment spent 2.6 ms there).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta

from soldout.domain.claims import Order
from soldout.domain.fulfilment import ProductionPlan, Rate
from soldout.engine.fulfilment import Fulfilment

START = date(2030, 3, 2)
PLACED = 2000
PAID_AT = datetime(2030, 3, 1, tzinfo=UTC)


def order(n: int) -> Order:
    return Order(f"ord_{n:09d}", f"clm_{n}", "lch", f"fan_{n}", "A", 1 + n % 2, 19900, "EUR",
                 PAID_AT + timedelta(microseconds=n), "test", f"ref_{n}", f"key_{n}")  # fmt: skip


def queue_of(open_orders: int) -> Fulfilment:
    queue = Fulfilment()
    queue.set_plan("prd", "A", ProductionPlan.create(starts_on=START, rates=[Rate(START, 500)]))
    for n in range(open_orders):
        queue.place("prd", order(n))
    return queue


def per_order(open_orders: int, repeat: int) -> float:
    """Best microseconds per order placed behind `open_orders` open ones."""
    best = float("inf")
    for _ in range(repeat):
        queue = queue_of(open_orders)
        fresh = [order(open_orders + n) for n in range(PLACED)]
        began = time.perf_counter()
        for paid in fresh:
            queue.place("prd", paid)
        best = min(best, time.perf_counter() - began)
    return best / PLACED * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="open orders in (b)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args()
    short = per_order(100, args.repeat)
    long = per_order(args.orders, args.repeat)
    print(f"(a) behind 100 open orders:      {short:8.2f} us an order")
    print(f"(b) behind {args.orders:>7,} open orders:  {long:8.2f} us an order")
    print(f"ratio b/a: {long / short:.2f}")


if __name__ == "__main__":
    main()
