"""What memory no longer holds: the claims, orders and payments of archived launches.

A running process keeps in memory what the hot path and the sweeper need: the launches
that are scheduled, open, or closed so recently that a payment window, a retry under an
`Idempotency-Key` or a late webhook may still reach them (`resident`). Every other launch
is archived: its book is counted from the store's tally and none of its claims, orders or
payments is read on start. They are read from the store when asked:

- one record (a fan's old claim, an order the maker refunds, a late webhook's payment) is
  adopted: read with its claim, order and payments and kept in memory from then on, so
  that a change to it goes through the same desks as a live one's;
- a list (a launch's claims or orders, a fan's claims) is read from the store as it is,
  with any record adopted meanwhile in its place (it may be newer than its row);
- a whole launch (the maker edits it, or its draw is shown) is revived: made resident
  again, every count rebuilt from its claims, as on start.

Orders still waiting to ship are always in memory, whatever their launch: the fulfilment
queue dates them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta

from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.launches import Launch, Phase
from soldout.domain.payments import PaymentRecord
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.ledger import ClaimLedger
from soldout.engine.orders import OrderDesk
from soldout.engine.payment_records import PaymentRecords
from soldout.engine.reservations import ReservationDesk
from soldout.engine.scheduler import ArchiveTime, Scheduler
from soldout.store.ports import ClaimTally, Store

__all__ = ["KEPT_AFTER_CLOSE", "Archive", "resident"]

KEPT_AFTER_CLOSE = timedelta(days=1)
"""How long a closed launch stays in memory after its last payment window: the time a
client may retry a claim under its `Idempotency-Key` and be answered the first claim."""
RETRY_EVICTION = timedelta(minutes=10)  # a launch still busy is tried again this later
REVIVED_FOR = timedelta(hours=1)  # a launch read back whole stays at least this long


def kept_until(launch: Launch) -> datetime | None:
    """When a launch that closes (a closing time, or a cancellation) stops being kept in
    memory; None for one open with no end."""
    closed_at = launch.cancelled_at or launch.sale_closes_at
    if closed_at is None:
        return None
    return closed_at + timedelta(seconds=launch.rules.payment_window_seconds) + KEPT_AFTER_CLOSE


def resident(launch: Launch, now: datetime) -> bool:
    """Whether a launch's claims belong in memory: not closed, or closed so recently that
    a claim made before the close may still be paid, retried or told of by a webhook."""
    if launch.phase(now) is not Phase.CLOSED:
        return True
    until = kept_until(launch)
    return until is None or now < until


class Archive:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        books: LaunchBooks,
        ledger: ClaimLedger,
        orders: OrderDesk,
        payments: PaymentRecords,
        reservations: ReservationDesk,
        revived: Callable[[str], Awaitable[None]],
        scheduler: Scheduler,
        busy: Callable[[str], bool],
        forget_draw: Callable[[str], None],
    ) -> None:
        """`revived(launch_id)`: a launch was made resident again (its draw is loaded);
        `busy(claim_id)`: the claim's write, payment, webhook or refund is running now;
        `forget_draw(launch_id)`: an archived launch's draw leaves memory."""
        self._store = store
        self._clock = clock
        self._books = books
        self._ledger = ledger
        self._orders = orders
        self._payments = payments
        self._reservations = reservations
        self._revived = revived
        self._scheduler = scheduler
        self._busy = busy
        self._forget_draw = forget_draw
        self._archived: set[str] = set()
        self._reviving: dict[str, asyncio.Future[None]] = {}

    # -- on start ------------------------------------------------------------------------
    def archive(
        self,
        tally: Iterable[ClaimTally],
        reservations: Mapping[str, int],
        launch_ids: Collection[str],
    ) -> None:
        """Count these launches' books from the store's tally (claims) and counts
        (reservations per launch); their records stay in the store."""
        archived = set(launch_ids)
        for launch_id in archived:
            book = self._books.get(launch_id)
            book.summary = True
            book.reservations_archived = reservations.get(launch_id, 0)
        for row in tally:
            if row.launch_id in archived:
                book = self._books.get(row.launch_id)
                book.summarise(row.state, row.sku, row.claims, row.units)
        self._archived |= archived

    def archived(self, launch_id: str) -> bool:
        return launch_id in self._archived

    # -- while the server runs: a launch closed long enough leaves memory ----------------
    def watch(self, launch: Launch) -> None:
        """Archive the launch when it is no longer kept (on start, and as it changes)."""
        until = kept_until(launch)
        if until is not None and launch.id not in self._archived:
            self._scheduler.schedule(ArchiveTime(until, launch.id))

    def evict(self, launch_id: str, now: datetime) -> bool:
        """Archive a resident launch the sweeper found past its time, as a start would:
        its claims, settled payments, orders (those still to ship excepted), reservations
        and draw leave memory; its book keeps its counts. Not yet while a claim is held
        or its payment, webhook or refund runs (tried again later); not if it changed
        (a later close: watched again). Whether it was archived."""
        book = self._books.by_id.get(launch_id)
        if book is None or launch_id in self._archived:
            return False
        if resident(book.launch, now):
            self.watch(book.launch)  # moved: its new time is watched
            return False
        if self._reviving.get(launch_id) is not None:
            return False  # (being read back: it schedules its own eviction)
        claims = self._ledger.of_launch(launch_id)
        waiting = [c for c in claims if c.is_held or self._busy(c.id)]
        if waiting or self._payments.unsettled_of(c.id for c in claims):
            self._scheduler.schedule(ArchiveTime(now + RETRY_EVICTION, launch_id))
            return False
        gone = self._ledger.evict(launch_id)
        self._payments.forget([c.id for c in gone])
        self._orders.evict(launch_id)
        book.summary = True
        book.fan_units.clear()
        book.reservations_archived = len(book.reservations)
        book.reservations.clear()
        book.entered.clear()
        self._forget_draw(launch_id)
        self._archived.add(launch_id)
        return True

    # -- one record, adopted -----------------------------------------------------------
    async def claim(self, claim_id: str) -> Claim | None:
        """The claim, from memory or (an archived launch's) adopted from the store with
        its order and payments; None if there is no such claim."""
        claim = self._ledger.find(claim_id)
        if claim is not None:
            return claim
        stored = await self._store.claims.get(claim_id)
        if stored is None:
            return None
        order = await self._store.orders.for_claim(claim_id)
        payments = await self._store.payments.of_claims([claim_id])
        return self._adopt(stored, order, payments)

    async def order(self, order_id: str) -> Order | None:
        """The order, with its claim and payments in memory (adopted if archived)."""
        order = self._orders.get(order_id)
        if order is None:
            order = await self._store.orders.get(order_id)
            if order is None:
                return None
        await self.claim(order.claim_id)
        return self._orders.get(order_id) or self._orders.adopt(order)

    async def order_for_claim(self, claim_id: str) -> Order | None:
        if await self.claim(claim_id) is None:
            return None
        return self._orders.for_claim(claim_id)

    async def payment(self, payment_id: str) -> PaymentRecord | None:
        """The payment, with its claim and order in memory (adopted if archived)."""
        record = self._payments.get(payment_id)
        if record is not None:
            return record
        stored = await self._store.payments.get(payment_id)
        if stored is None or await self.claim(stored.claim_id) is None:
            return None
        return self._payments.get(payment_id)

    def _adopt(
        self, stored: Claim, order: Order | None, payments: Iterable[PaymentRecord]
    ) -> Claim:
        # no await from here on: the three are adopted together, or found adopted
        live = stored.launch_id in self._books.by_id and stored.launch_id not in self._archived
        if live and self._ledger.find(stored.id) is None:
            # A live launch's claim not in memory was made by a worker (docs/scale-out.md)
            # and not read from its stream yet: it is counted and listed as one made here.
            self._ledger.restore(stored)
            return stored
        claim = self._ledger.adopt(stored)
        if order is not None:
            self._orders.adopt(order)
        self._payments.adopt(payments)
        return claim

    # -- lists, read as they are -------------------------------------------------------
    async def claims_of_launch(self, launch_id: str) -> list[Claim]:
        """The launch's claims in the order made."""
        if launch_id not in self._archived:
            return self._ledger.of_launch(launch_id)
        stored = await self._store.claims.of_launches([launch_id])
        return [self._ledger.find(c.id) or c for c in stored]

    async def orders_of_launch(self, launch_id: str) -> list[Order]:
        """The launch's orders in payment order."""
        if launch_id not in self._archived:
            return self._orders.of_launch(launch_id)
        stored = await self._store.orders.of_launches([launch_id])
        return [self._orders.get(o.id) or o for o in stored]

    async def claims_of_fan(self, fan_id: str) -> list[Claim]:
        """Every claim of one fan, in the order made (for rare requests: a data export)."""
        stored = await self._store.claims.for_fan(fan_id)
        return [self._ledger.find(c.id) or c for c in stored]

    async def payments_of_claims(self, claim_ids: Collection[str]) -> list[PaymentRecord]:
        stored = await self._store.payments.of_claims(claim_ids)
        return [self._payments.get(p.id) or p for p in stored]

    async def order_counts(self) -> dict[str, int]:
        """Orders per launch: counted in memory for resident launches, by the store for
        archived ones."""
        counts = {
            i: n for i, n in (await self._store.orders.counts()).items() if i in self._archived
        }
        for book in self._books.all():
            launch_id = book.launch.id
            if launch_id not in self._archived:
                counts[launch_id] = len(self._orders.of_launch(launch_id))
        return counts

    # -- a whole launch, revived -------------------------------------------------------
    async def revive(self, launch_id: str) -> None:
        """Make an archived launch resident again: its claims, orders, payments and
        reservations read back, and its book counted from them as on start."""
        if launch_id not in self._archived:
            return
        running = self._reviving.get(launch_id)
        if running is not None:
            await asyncio.shield(running)
            return
        done = self._reviving[launch_id] = asyncio.get_running_loop().create_future()
        try:
            await self._revive(launch_id)
        finally:
            del self._reviving[launch_id]
            done.set_result(None)

    async def _revive(self, launch_id: str) -> None:
        store, ids = self._store, [launch_id]
        claims = await store.claims.of_launches(ids)
        orders = await store.orders.of_launches(ids)
        payments = await store.payments.of_launches(ids)
        reservations = await store.reservations.of_launches(ids)
        # no await from here until the launch is resident: counts rebuilt in one step
        book = self._books.get(launch_id)
        book.summary = False
        book.claim_states = {}
        for stock in book.stock.values():
            stock.held = stock.paid = 0
        self._ledger.restore_launch(claims)
        for order in orders:
            self._orders.adopt(order)
        self._payments.adopt(payments)
        self._reservations.load(reservations)
        self._archived.discard(launch_id)
        # kept a while, so that a page looked at twice does not read it back twice
        self._scheduler.schedule(ArchiveTime(self._clock.now() + REVIVED_FOR, launch_id))
        await self._revived(launch_id)


def held_launches(tally: Iterable[ClaimTally]) -> set[str]:
    """Launches with a claim held (they stay resident whatever their phase)."""
    return {row.launch_id for row in tally if row.state is ClaimState.HELD}
