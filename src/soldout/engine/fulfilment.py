"""Fulfilment queues: every paid order waits in its SKU's queue, in payment order, and its
ship date is the first day the production plan covers its place, and never a day before
it was paid (a plan that started in the past made units before the order existed).

One queue per (product, SKU): every launch of a product draws on the same production line.
Units of shipped orders are spent first; the open orders follow in payment order. Any
change (a new plan, a refund, an order shipped out of turn) recomputes the dates behind it
in one pass and returns the orders whose date moved, for the caller to record and tell.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from soldout.domain.claims import Order, OrderStatus
from soldout.domain.fulfilment import ProductionPlan, SupplyCurve, estimate, schedule

__all__ = ["DateChange", "Fulfilment", "SkuQueue"]

QueueKey = tuple[str, str]  # (product id, SKU code)


class DateChange(NamedTuple):  # a tuple: a re-plan may make a million of them
    order: Order
    before: date | None
    after: date | None

    @property
    def later(self) -> bool:
        """The order slips: a later date, or no date at all any more."""
        if self.after is None:
            return self.before is not None
        return self.before is not None and self.after > self.before


def _place(order: Order) -> tuple[str, str]:
    return (order.paid_at.isoformat(), order.id)


@dataclass(slots=True)
class SkuQueue:
    plan: ProductionPlan | None = None
    curve: SupplyCurve | None = None
    shipped_units: int = 0
    open: list[Order] = field(default_factory=list)
    _keys: list[tuple[str, str]] = field(default_factory=list)
    open_units: int = 0

    def estimate(self, quantity: int, today: date) -> date | None:
        """The ship date an order of `quantity` placed `today` would get."""
        if self.curve is None:
            return None
        day = estimate(self.curve, self.shipped_units + self.open_units, quantity)
        return day if day is None or day >= today else today

    def add(self, order: Order) -> int:
        key = _place(order)
        at = bisect.bisect(self._keys, key)
        self._keys.insert(at, key)
        self.open.insert(at, order)
        self.open_units += order.quantity
        return at

    def take_out(self, order: Order) -> int:
        at = bisect.bisect_left(self._keys, _place(order))
        if at == len(self.open) or self.open[at] is not order:
            raise AssertionError(f"order {order.id} is not in its queue")
        del self._keys[at], self.open[at]
        self.open_units -= order.quantity
        return at

    def recompute(self, start: int = 0) -> list[DateChange]:
        """Date every open order from place `start` on; return those whose date moved."""
        tail = self.open[start:]
        if self.curve is None:
            dates: list[date | None] = [None] * len(tail)
        else:
            # the units ahead of `start` from the running total, not by adding them up: a
            # new order goes last, and its payment must not cost the length of its queue
            quantities = [o.quantity for o in tail]
            ahead = self.shipped_units + self.open_units - sum(quantities)
            dates = schedule(self.curve, ahead, quantities)
        changes: list[DateChange] = []
        paid, scheduled = OrderStatus.PAID, OrderStatus.SCHEDULED
        change, add = DateChange, changes.append
        for order, new in zip(tail, dates, strict=True):  # (a million times on a re-plan)
            if new is not None and new < (paid_on := order.paid_at.date()):
                new = paid_on  # made before it was ordered: it ships once paid
            if order.ship_date != new or (new is None) != (order.status is paid):
                add(change(order, order.ship_date, new))
                order.ship_date, order.status = new, (paid if new is None else scheduled)
        return changes


class Fulfilment:
    """The queues, in memory; rebuilt from the record on start like the launch books."""

    def __init__(self) -> None:
        self._queues: dict[QueueKey, SkuQueue] = {}

    def queue(self, product_id: str, sku: str) -> SkuQueue:
        found = self._queues.get((product_id, sku))
        if found is None:
            found = self._queues[(product_id, sku)] = SkuQueue()
        return found

    def plan(self, product_id: str, sku: str) -> ProductionPlan | None:
        return self.queue(product_id, sku).plan

    def load(
        self,
        plans: Iterable[tuple[str, str, ProductionPlan]],
        orders: Iterable[tuple[str, Order]],
        shipped: Iterable[tuple[str, str, int]] = (),
    ) -> list[DateChange]:
        """Rebuild every queue from plans, (product id, order) pairs read back, and the
        units shipped so far per (product id, SKU): an order that shipped is counted
        there, not passed in (the store tallies them: they are most orders)."""
        for product_id, sku, plan in plans:
            queue = self.queue(product_id, sku)
            queue.plan, queue.curve = plan, SupplyCurve(plan)
        for product_id, sku, units in shipped:
            self.queue(product_id, sku).shipped_units += units
        for product_id, order in orders:
            if order.in_queue:
                self.queue(product_id, order.sku).add(order)
        return [change for q in self._queues.values() for change in q.recompute()]

    def place(self, product_id: str, order: Order) -> list[DateChange]:
        """A new paid order takes its place; normally last, so only its own date is set."""
        queue = self.queue(product_id, order.sku)
        return queue.recompute(queue.add(order))

    def remove(self, product_id: str, order: Order) -> list[DateChange]:
        """A refunded (or unrecorded) order leaves the queue; those behind it move up."""
        queue = self.queue(product_id, order.sku)
        return queue.recompute(queue.take_out(order))

    def shipped(self, product_id: str, sku: str, orders: Sequence[Order]) -> list[DateChange]:
        """Orders left the queue by shipping; their units are spent. Orders ahead of one
        shipped out of turn may now wait longer: everything is recomputed."""
        queue = self.queue(product_id, sku)
        for order in orders:
            queue.take_out(order)
            queue.shipped_units += order.quantity
        return queue.recompute()

    def set_plan(self, product_id: str, sku: str, plan: ProductionPlan) -> list[DateChange]:
        queue = self.queue(product_id, sku)
        queue.plan, queue.curve = plan, SupplyCurve(plan)
        return queue.recompute()

    def next_open(self, product_id: str, sku: str, count: int) -> list[Order]:
        return self.queue(product_id, sku).open[:count]

    def forget(self, product_ids: Collection[str]) -> None:
        """Drop the queues of these products (a removed rehearsal's: no launch sells them)."""
        for key in [k for k in self._queues if k[0] in product_ids]:
            del self._queues[key]
