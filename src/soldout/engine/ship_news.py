"""Recording moved ship dates and telling fans, in chunks, from what survives a crash.

A ship date is derived: from the production plan and the order's place in its queue (both
on record), so a change to the plan (or a refund, or an order shipped out of turn) is
durable once the plan or the order itself is written, whatever the number of orders it
moves. Writing each moved order's new date, its history line and its fan's notification
follows here, 5,000 orders per transaction, yielding to sales in between. Each order keeps
the date its fan was last told (`notified_ship_date`), written in the same transaction as
the notification: after a crash the start-up recomputes every date and this resumes where
it stopped; nothing is told twice, and a date that moved twice before it was told is told
once, as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import date

from soldout.clock import Clock
from soldout.domain.claims import Order, OrderEvent
from soldout.domain.notifications import Notification
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["ShipNews"]

log = logging.getLogger(__name__)
CHUNK = 5000


class ShipNews:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[str, Order] = {}
        self._task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    def note(self, orders: Iterable[Order]) -> None:
        """These orders' dates may differ from what their fans were told."""
        pending = self._pending
        for order in orders:
            if order.ship_date != order.notified_ship_date:
                pending[order.id] = order
        if self._pending and (self._task is None or self._task.done()):
            self.idle.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """On shutdown: what is not told yet is told after the next start."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def forget(self, orders: Iterable[Order]) -> None:
        """Removed orders (a rehearsal's): never tell their dates."""
        for order in orders:
            self._pending.pop(order.id, None)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def drained(self) -> None:
        """Until every moved date is told (for tests and benchmarks)."""
        await self.idle.wait()

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = [self._pending.pop(k) for k in list(self._pending)[:CHUNK]]
                await self._tell(batch)
                await asyncio.sleep(0)  # let claims and payments through between chunks
        except Exception:
            log.exception("telling fans of moved ship dates failed; retried on restart")
        finally:
            self.idle.set()

    async def _tell(self, orders: list[Order]) -> None:
        now = self._clock.now()
        events: list[OrderEvent] = []
        notes: list[Notification] = []
        rows: list[tuple[str, str | None, str | None, str]] = []
        done = []
        days: dict[date, str] = {}
        for order in orders:
            if not order.in_queue:
                continue  # shipped or refunded meanwhile: that write said it all
            new = order.ship_date
            after = (days.get(new) or days.setdefault(new, new.isoformat())) if new else None
            rows.append((order.status, after, after, order.id))
            done.append((order, new))
            if new == order.notified_ship_date:
                continue  # moved and moved back before anyone was told
            told = order.notified_ship_date
            before = told.isoformat() if told else None
            words = f"now ships on {after}" if after else "has no ship date until more is made"
            was = f"it was {before}" if before else "it had no date"
            if told is None:  # its first date (paid before any plan): set, not changed
                events.append(OrderEvent(order.id, now, "scheduled", f"ships on {after}"))
            else:
                events.append(OrderEvent(order.id, now, "ship_date_changed", words))
            notes.append(
                Notification(
                    new_id("ntf"),
                    order.fan_id,
                    "ship_date_changed",
                    f"Your order {order.id} {words} ({was}).",
                    now,
                    {"order_id": order.id, "before": before, "after": after},
                )
            )
        if not rows:
            return
        # One transaction: a date is on record as told only with its notification.
        async with self._store.transaction() as tx:
            tx.orders.record_dates(rows)
            tx.orders.add_events(events)
            tx.notifications.add_many(notes)
        for order, told_date in done:
            order.notified_ship_date = told_date
        self.note(order for order, _ in done)  # moved again meanwhile: next round
