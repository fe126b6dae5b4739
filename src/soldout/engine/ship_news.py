"""Telling fans their ship date moved, from an outbox that survives a crash.

A change to the production plan (or a refund, or an order shipped out of turn) may move
the dates of a million orders at once. The new dates are written at once, in one short
statement per order; the history lines and notifications follow here, in chunks, without
holding up the event loop. Each order keeps the last date its fan was told
(`notified_ship_date`), written in the same transaction as the notification: after a
crash the work resumes where it stopped, nothing is told twice, and a date that moved
twice before it was told is told once, as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from soldout.domain.claims import Order, OrderEvent
from soldout.domain.notifications import Notification
from soldout.ids import new_id

if TYPE_CHECKING:
    from soldout.engine.engine import SaleEngine

__all__ = ["ShipNews"]

log = logging.getLogger(__name__)
CHUNK = 5000


class ShipNews:
    def __init__(self, engine: SaleEngine) -> None:
        self._engine = engine
        self._pending: dict[str, Order] = {}
        self._task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    def note(self, orders: Iterable[Order]) -> None:
        """These orders' dates may differ from what their fans were told."""
        for order in orders:
            if order.in_queue and order.ship_date != order.notified_ship_date:
                self._pending[order.id] = order
        if self._pending and (self._task is None or self._task.done()):
            self.idle.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """On shutdown: what is not told yet is told after the next start."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
        now = self._engine.now()
        events: list[OrderEvent] = []
        notes: list[Notification] = []
        told: list[tuple[str | None, str]] = []
        dates = []
        for order in orders:
            if not order.in_queue or order.ship_date == order.notified_ship_date:
                continue
            after = order.ship_date.isoformat() if order.ship_date else None
            before = order.notified_ship_date.isoformat() if order.notified_ship_date else None
            words = f"now ships on {after}" if after else "has no ship date until more is made"
            was = f"it was {before}" if before else "it had no date"
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
            told.append((after, order.id))
            dates.append((order, order.ship_date))
        if not told:
            return
        store = self._engine.store
        await asyncio.shield(
            asyncio.gather(
                store.orders.add_events(events),
                store.notifications.add_many(notes),
                store.orders.mark_notified(told),
            )
        )
        for order, date in dates:
            order.notified_ship_date = date
        self.note(order for order, _ in dates)  # moved again meanwhile: told next round
