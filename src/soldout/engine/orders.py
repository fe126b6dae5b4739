"""Orders after the race: recording a paid claim as an order with its ship date, refunding
it, shipping it, and changing the production plan its ship date depends on.

Each change is made in memory without yielding, then written in one transaction with the
order's history lines and the notifications it causes (the outbox): the block's exit
follows the change in memory without a yield, so its writes keep their place among the
others (a refund's freed unit is never durable after the claim that takes it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from soldout.clock import Clock
from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent, OrderStatus
from soldout.domain.errors import Conflict
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.engine.allocator import Allocator
from soldout.engine.book import LaunchBook
from soldout.engine.fulfilment import DateChange, Fulfilment
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.ledger import ClaimLedger
from soldout.engine.maker_news import FAN_CANCELLED, TEAM_REFUND_ASKED, MakerNews
from soldout.engine.ship_news import ShipNews
from soldout.engine.shipping import Retrack, Shipment, retracked, shipped
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["OrderDesk", "OrderListener", "PlanOutcome", "Retrack", "Shipment"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    queued: int  # open orders dated again
    changes: list[DateChange]

    @property
    def later(self) -> list[DateChange]:
        return [c for c in self.changes if c.later]

    @property
    def unscheduled(self) -> list[Order]:
        return [c.order for c in self.changes if c.after is None]


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: for bulk work that makes many objects, none
    of them in cycles, where each collection would walk the whole heap for nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _unit_cost(book: LaunchBook, sku: str) -> int | None:
    """The SKU's cost now, kept with the order paid now (None: not given)."""
    found = book.product.sku(sku)
    return found.cost_amount if found is not None else None


class OrderListener(Protocol):
    """Told of each order once it is recorded as paid, and when it is refunded."""

    def paid(self, order: Order) -> None: ...
    def refunded(self, order: Order) -> None: ...


class OrderDesk:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        books: LaunchBooks,
        allocator: Allocator,
        ledger: ClaimLedger,
        ship_news: ShipNews,
        unit_returned: Callable[[LaunchBook, str], None],
    ) -> None:
        """`unit_returned(book, sku)`: a unit of a refunded order is on sale again."""
        self._store = store
        self._clock = clock
        self._books = books
        self._allocator = allocator
        self._ledger = ledger
        self._ship_news = ship_news
        self._unit_returned = unit_returned
        self.fulfilment = Fulfilment()
        self.listeners: list[OrderListener] = []
        self.maker_news = MakerNews()  # the team's e-mails (a refund a fan asked for)
        self._by_claim: dict[str, Order] = {}
        self._by_id: dict[str, Order] = {}
        self._by_launch: dict[str, list[Order]] = {}

    async def load(
        self,
        orders: Sequence[Order],
        plans: Sequence[tuple[str, str, ProductionPlan]],
        shipped: Sequence[tuple[str, str, int]],
        returned: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """`orders`: those of resident launches and every order still in the queue;
        `shipped`: units shipped per (launch id, SKU), over every order; `returned`: units
        refunded after they shipped, likewise (`LaunchBook.returned`)."""
        for launch_id, sku, units in returned:
            self._books.get(launch_id).returned[sku] = units
        for order in orders:
            if order.id not in self._by_id:
                self._index(order)
        product = self.product_of
        queued = [(product(o), o) for o in self._by_id.values() if o.in_queue]
        by_product: dict[tuple[str, str], int] = {}
        for launch_id, sku, units in shipped:
            key = (self._books.get(launch_id).product.id, sku)
            by_product[key] = by_product.get(key, 0) + units
        self.fulfilment.load(plans, queued, [(p, s, u) for (p, s), u in by_product.items()])
        self._ship_news.note(o for _, o in queued)  # dates moved but not yet recorded and told

    def for_claim(self, claim_id: str) -> Order | None:
        return self._by_claim.get(claim_id)

    def get(self, order_id: str) -> Order | None:
        return self._by_id.get(order_id)

    def all(self) -> list[Order]:
        return list(self._by_id.values())

    def of_launch(self, launch_id: str) -> list[Order]:
        """A launch's orders (a launch's page shows its margin: not a scan of every order)."""
        return list(self._by_launch.get(launch_id, ()))

    def product_of(self, order: Order) -> str:
        return self._books.get(order.launch_id).product.id

    def estimate(self, claim: Claim) -> date | None:
        """The ship date this claim's order would get if it were paid now."""
        product = self._books.get(claim.launch_id).product.id
        return self.estimate_for(product, claim.sku, claim.quantity)

    def estimate_for(self, product_id: str, sku: str, quantity: int) -> date | None:
        today = self._clock.now().date()
        return self.fulfilment.queue(product_id, sku).estimate(quantity, today)

    # -- paid ----------------------------------------------------------------------
    async def record(
        self,
        claim: Claim,
        payment: PaymentRecord,
        shipping: ShippingAddress | None,
        unrecorded: Callable[[PaymentRecord], None],
    ) -> Order:
        """The payment is captured and the claim still held: make it an order, shipping to
        the address the fan had on file when they paid. If the order's write fails, the
        claim is held again and `unrecorded(payment)` sees that its money goes back."""
        book = self._books.get(claim.launch_id)
        now = self._clock.now()
        claim.state, claim.closed_at = ClaimState.PAID, now
        self._allocator.settle(claim)
        order = Order(
            id=new_id("ord"),
            claim_id=claim.id,
            launch_id=claim.launch_id,
            fan_id=claim.fan_id,
            sku=claim.sku,
            quantity=claim.quantity,
            total=claim.total_amount,
            currency=claim.currency,
            paid_at=now,
            payment_method=payment.method,
            payment_reference=payment.reference or payment.id,
            idempotency_key=payment.idempotency_key,
            shipping=shipping,
            unit_cost=_unit_cost(book, claim.sku),
        )
        changes = self.fulfilment.place(book.product.id, order)
        order.notified_ship_date = order.ship_date  # told in the confirmation below
        others = [c.order for c in changes if c.order is not order]
        events = [OrderEvent(order.id, now, "paid", f"paid {Money(order.total, order.currency)}")]
        when = f"ships on {_day(order.ship_date)}" if order.ship_date else "ship date to follow"
        if order.ship_date is not None:
            events.append(OrderEvent(order.id, now, "scheduled", when))
        notes = [
            Notification(
                new_id("ntf"),
                order.fan_id,
                "order_confirmed",
                f"Order {order.id} is paid and confirmed; "
                + (f"it {when}." if order.ship_date else "its ship date will follow."),
                now,
                {"order_id": order.id, "ship_date": _day(order.ship_date)},
            )
        ]
        async with self._store.transaction() as tx:
            # Told of the outcome whatever becomes of this request (cancelled meanwhile,
            # the writes go on): indexed once durable, or undone and the money sent back.
            tx.durable.add_done_callback(
                lambda done: self._recorded(done, claim, order, payment, unrecorded)
            )
            tx.claims.settle(claim.id, now, order, payment)
            tx.orders.add_events(events)
            tx.notifications.add_many(notes)
        self._ship_news.note(others)
        return order

    def _recorded(
        self,
        done: asyncio.Future[None],
        claim: Claim,
        order: Order,
        payment: PaymentRecord,
        unrecorded: Callable[[PaymentRecord], None],
    ) -> None:
        if not done.cancelled() and done.exception() is None:
            self._index(order)
            for listener in self.listeners:
                listener.paid(order)
            return
        self._unrecord(claim, order, payment)
        unrecorded(payment)

    def _unrecord(self, claim: Claim, order: Order, payment: PaymentRecord) -> None:
        """The order was not recorded: the claim is held again (and still expires)."""
        book = self._books.get(claim.launch_id)
        claim.state, claim.closed_at = ClaimState.HELD, None
        self._allocator.unsettle(claim)
        self._ledger.held_again(claim)
        if order.in_queue:
            self.fulfilment.remove(book.product.id, order)
        # Captured but no order: the money must go back (`give_back` moves it on to refunded).
        payment.state = PaymentState.AUTHORIZED

    # -- refunded ------------------------------------------------------------------
    async def unsell(self, order: Order, payment: PaymentRecord | None, reason: str) -> None:
        """Mark a paid order refunded (the money is already back). Unshipped, its unit goes
        back on sale and its place in the queue is freed; shipped, stock is untouched."""
        now = self._clock.now()
        queued = order.in_queue
        money = Money(order.total - order.parts_refunded, order.currency)  # what was left
        order.refund(now)
        changes: list[DateChange] = []
        async with self._store.transaction() as tx:
            if queued:
                claim = self._ledger.by_id(order.claim_id)
                book = self._books.get(order.launch_id)
                claim.state, claim.closed_at = ClaimState.CANCELLED, now
                self._allocator.unsell(claim)
                changes = self.fulfilment.remove(book.product.id, order)
                tx.claims.unsell(claim.id, now)
                self._unit_returned(book, order.sku)
            if payment is not None and payment.advance(PaymentState.REFUNDED, now, reason):
                tx.payments.update(payment)
            tx.orders.update([order])
            tx.orders.add_events(
                [OrderEvent(order.id, now, "refunded", f"{money} refunded: {reason}")]
            )
            told = f"Order {order.id} was refunded ({money}): {reason}."
            data = {"order_id": order.id, "amount": money.amount}
            notes = [Notification(new_id("ntf"), order.fan_id, "order_refunded", told, now, data)]
            if reason == FAN_CANCELLED:  # the maker hears of it too (they may be packing it)
                notes += self.maker_news.notes(TEAM_REFUND_ASKED, told, data, now)
            tx.notifications.add_many(notes)
        if order.shipped_at is not None:
            returned = self._books.get(order.launch_id).returned
            returned[order.sku] = returned.get(order.sku, 0) + order.quantity
        self._ship_news.note(c.order for c in changes)
        for listener in self.listeners:
            listener.refunded(order)

    # -- shipped -------------------------------------------------------------------
    async def ship(
        self, shipments: Sequence[Shipment], retracks: Sequence[Retrack] = ()
    ) -> list[Order]:
        """Mark open orders shipped and set the tracking of shipped ones, all in one write.
        The caller checked each order, awaiting between lines: one refunded or shipped
        meanwhile refuses the whole list here, before anything changes (`Conflict`)."""
        moved = [s.order for s in shipments if not s.order.in_queue]
        moved += [r.order for r in retracks if r.order.status is not OrderStatus.SHIPPED]
        if moved:
            raise Conflict(
                f"order {moved[0].id} changed meanwhile (it is {moved[0].status.value}):"
                " nothing was shipped; look at the orders again"
            ).with_code("not_shippable")
        now = self._clock.now()
        by_queue: dict[tuple[str, str], list[Order]] = {}
        for s in shipments:
            by_queue.setdefault((self.product_of(s.order), s.order.sku), []).append(s.order)
        changes: list[DateChange] = []
        for (product, sku), orders in by_queue.items():
            changes += self.fulfilment.shipped(product, sku, orders)
        events, notes = shipped(shipments, now)
        tracked_events, tracked_notes = retracked(retracks, now)
        changed = [*(s.order for s in shipments), *(r.order for r in retracks)]
        async with self._store.transaction() as tx:
            tx.orders.update(changed)
            tx.orders.add_events([*events, *tracked_events])
            tx.notifications.add_many([*notes, *tracked_notes])
        self._ship_news.note(c.order for c in changes)
        return changed

    # -- planned -------------------------------------------------------------------
    async def set_plan(self, product_id: str, sku: str, plan: ProductionPlan) -> PlanOutcome:
        """Date every open order of the SKU again in one pass and record the new dates with
        the plan; fans whose date moved are told from the outbox (`ShipNews`) just after."""
        now = self._clock.now()
        # The plan is the record: every date follows from it and the queue (a restart
        # computes them again), so writing it is the whole change; the moved orders'
        # dates, history lines and notifications follow from the outbox.
        await asyncio.shield(self._store.plans.put(product_id, sku, plan, now))
        with gc_paused():  # a million short-lived objects and no cycles: no collection
            changes = self.fulfilment.set_plan(product_id, sku, plan)
            self._ship_news.note(c.order for c in changes)
        queued = len(self.fulfilment.queue(product_id, sku).open)
        return PlanOutcome(queued, changes)

    def forget(self, launch_ids: Collection[str]) -> list[Order]:
        """Removed launches (a rehearsal's): their orders leave memory; which they were."""
        orders = [o for launch_id in launch_ids for o in self._by_launch.pop(launch_id, ())]
        for order in orders:
            self._by_id.pop(order.id, None)
            self._by_claim.pop(order.claim_id, None)
        return orders

    def evict(self, launch_id: str) -> None:
        """A launch archived while the server runs: its orders leave memory, but those
        still in the fulfilment queue (which dates them)."""
        kept = []
        for order in self._by_launch.pop(launch_id, ()):
            if order.in_queue:
                kept.append(order)
            else:
                self._by_id.pop(order.id, None)
                self._by_claim.pop(order.claim_id, None)
        if kept:
            self._by_launch[launch_id] = kept

    def adopt(self, order: Order) -> Order:
        """An order read back from the store (an archived launch's), for a page or a
        change; one already here wins, as it may be newer."""
        known = self._by_id.get(order.id)
        if known is not None:
            return known
        self._index(order)
        return order

    def _index(self, order: Order) -> None:
        self._by_claim[order.claim_id] = order
        self._by_id[order.id] = order
        self._by_launch.setdefault(order.launch_id, []).append(order)
