"""The sale engine: decides claims in memory, makes them durable, then answers.

One process owns the counters. A decision is synchronous (atomic on the event loop); the
claim is then written through the store's group commit, and only after that write is
durable does the caller get its answer. On start the engine rebuilds every counter from
the store, so a crash loses nothing that a fan was told about.

`SaleEngine` is the claim itself (`refusal`, `claim`), the rebuild (`load`) and the
wiring of its parts, each given only what it uses: the `Allocator` decides, the
`ClaimLedger` keeps the claims, `LaunchBooks` the launches' books, the `Scheduler` the
sweeper's wake-ups; desks own what follows (`Releases`, `Checkout`, `OrderDesk`,
`DrawDesk`, `CodeDesk`, `ReservationDesk`, `LaunchDesk`, `Sweeper`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from soldout.clock import Clock
from soldout.domain.claims import Claim, Order
from soldout.domain.errors import DomainError, IdempotencyKeyReused, NotFound
from soldout.domain.rehearsals import REHEARSAL_FAN_MARK
from soldout.engine.allocator import Allocator
from soldout.engine.archive import Archive, held_launches, resident
from soldout.engine.background import Background
from soldout.engine.backups import BackupLists
from soldout.engine.book import LaunchBook
from soldout.engine.book_allocator import BookAllocator
from soldout.engine.checkout import Checkout, PaymentOutcome
from soldout.engine.codes import CodeDesk
from soldout.engine.draws import DrawDesk
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.launches import LaunchDesk
from soldout.engine.ledger import ClaimLedger
from soldout.engine.maker_news import MakerNews
from soldout.engine.orders import OrderDesk
from soldout.engine.part_refunds import PartRefunds
from soldout.engine.rehearsals import RehearsalMarks
from soldout.engine.releases import Releases
from soldout.engine.reservations import ReservationDesk
from soldout.engine.scheduler import Scheduler
from soldout.engine.ship_news import ShipNews
from soldout.engine.sweeper import Sweeper
from soldout.ids import new_id
from soldout.payments import PaymentProvider
from soldout.store.ports import Store

__all__ = ["ClaimOutcome", "PaymentOutcome", "SaleEngine"]


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    claim: Claim
    replayed: bool


class SaleEngine:
    """Decides claims, and builds the parts that hold the launches' books, every claim and
    what follows it. Not thread-safe: one event loop drives it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        payments: PaymentProvider,
        *,
        payment_timeout: float = 10.0,
        allocator: Callable[[Mapping[str, LaunchBook]], Allocator] = BookAllocator,
    ) -> None:
        """`allocator`: made over the launches' books; the in-process one by default
        (with several workers, `scaleout.mirror.MirrorAllocator`)."""
        self._store = store
        self._clock = clock
        self._durable: dict[str, asyncio.Future[None]] = {}  # claims being written
        self.rehearsals = RehearsalMarks()  # which fans each rehearsal made up
        self.launch_books = LaunchBooks(self.rehearsals)
        self.allocator: Allocator = allocator(self.launch_books.by_id)
        self.scheduler = Scheduler(clock)
        self.background = Background()
        backups = BackupLists()
        self.ledger = ClaimLedger(self.allocator, self.scheduler, backups.serve)
        self.draws = DrawDesk(
            store,
            clock,
            self.launch_books,
            self.allocator,
            self.ledger,
            self.scheduler,
            self.background,
            backups,
        )
        returned = self.draws.unit_returned
        self.ship_news = ShipNews(store, clock)
        self.orders = OrderDesk(
            store, clock, self.launch_books, self.allocator, self.ledger, self.ship_news, returned
        )
        self.releases = Releases(
            store, clock, self.launch_books, self.ledger, self.allocator, self.background, returned
        )
        self.checkout = Checkout(
            store,
            clock,
            payments,
            payment_timeout,
            ledger=self.ledger,
            orders=self.orders,
            refuse_unless_held=self.releases.refuse_unless_held,
            describe=self.launch_books.describe,
            background=self.background,
        )
        self.releases.closed.append(self.checkout.claim_closed)  # its pages close too
        self.part_refunds = PartRefunds(
            store, clock, payments, self.checkout.records, payment_timeout
        )
        self.codes = CodeDesk(
            store, clock, self.launch_books, self.allocator, self.scheduler, returned
        )
        self.reservations = ReservationDesk(store, clock, self.launch_books)
        self.archive = Archive(
            store,
            clock,
            self.launch_books,
            self.ledger,
            self.orders,
            self.checkout.records,
            self.reservations,
            self._revived,
            self.scheduler,
            lambda claim_id: claim_id in self._durable or self.checkout.busy(claim_id),
            self.draws.forget,
        )
        self.checkout.find_payment = self.archive.payment
        self.launches = LaunchDesk(
            store,
            clock,
            self.launch_books,
            self.ledger,
            self.releases,
            self.draws,
            self.orders.of_launch,
            self.archive.watch,
        )
        self.sweeper = Sweeper(
            store,
            clock,
            self.scheduler,
            self.ledger,
            self.releases,
            self.codes.expire,
            self.draws.run,
            self.archive.evict,
        )
        # the claim path's own references: one lookup each per claim
        self._books = self.launch_books.by_id
        self._replay = self.allocator.replay
        self._take = self.allocator.take
        self._record = self.ledger.add

    @property
    def store(self) -> Store:
        return self._store

    # -- start -----------------------------------------------------------------------
    async def load(self) -> None:
        """Rebuild the counters from the store (on start, and after a crash): resident
        launches from their claims, archived ones from the store's tally (`archive`)."""
        store, now = self._store, self._clock.now()
        self.rehearsals.load(await store.rehearsals.marks())
        products = {p.id: p for p in await store.products.all()}
        tally = await store.claims.tally()
        held = held_launches(tally)
        live: list[str] = []
        for launch in await store.launches.all():
            self.launch_books.open(launch, products[launch.product_id])
            if launch.id in held or resident(launch, now):
                live.append(launch.id)
        archived = [b.launch.id for b in self.books() if b.launch.id not in live]
        self.archive.archive(tally, await store.reservations.counts(), archived)
        self.reservations.load(await store.reservations.of_launches(live))
        self.codes.load(await store.codes.all(), now)
        for claim in await store.claims.of_launches(live):
            self.ledger.restore(claim)
        payments = {p.id: p for p in await store.payments.of_launches(live)}
        # an open payment of an archived launch (the provider still owes an answer)
        for record in await store.payments.unsettled():
            if record.id not in payments:
                await self.archive.claim(record.claim_id)
        self.checkout.records.adopt(payments.values())
        orders = [*await store.orders.of_launches(live), *await store.orders.in_queue()]
        await self.orders.load(
            orders,
            await store.plans.all(),
            await store.orders.shipped(),
            await store.orders.returned(),
        )
        await self.releases.release_holds_of_cancelled_launches()
        for launch_id in live:
            book = self.launch_books.get(launch_id)
            await self.draws.load(book)
            self.archive.watch(book.launch)  # archived once closed long enough
        for fan_id in await store.fans.erased():
            self.draws.backups.pass_over(fan_id)

    # -- the hot path ----------------------------------------------------------------
    def refusal(
        self, fan_id: str, launch_id: str, sku: str, idempotency_key: str, with_code: bool
    ) -> DomainError | None:
        """The refusal `claim` would raise from memory alone, before deciding (not open,
        closed, paused, sold out), or None. A replay, a claim with a priority code and an
        unknown launch are left to `claim`. The refusal is shared (made once): render it,
        never raise it."""
        if with_code or self._replay(fan_id, launch_id, idempotency_key) is not None:
            return None
        book = self._books.get(launch_id)
        if book is None or not book.launch.published:
            return None
        launch = book.launch
        if (
            launch.rehearsal is not None or fan_id.startswith(REHEARSAL_FAN_MARK)
        ) and not self.rehearsals.sees(fan_id, launch):
            return None  # `claim` answers 404, as for a launch that does not exist
        return book.refusal(sku, self._clock.now(), fresh=False)  # rendered, never raised

    async def claim(
        self,
        fan_id: str,
        launch_id: str,
        sku: str,
        quantity: int,
        idempotency_key: str,
        priority_code: str | None = None,
        admit: Callable[[LaunchBook], object] | None = None,
        address: str | None = None,
    ) -> ClaimOutcome:
        """Decide, record durably, answer. A retry with the same key returns the first claim
        (after it is durable), before any refusal is considered. `admit(book)` raises if
        the launch's gate (waiting room, proof of work, duplicates) refuses the fan.
        (`address`, the client's, is the gate's to count: one process counts it there.)"""
        first = self._replay(fan_id, launch_id, idempotency_key)
        if first is not None:
            if not first.same_request(launch_id, sku, quantity, priority_code):
                raise IdempotencyKeyReused(field="Idempotency-Key")
            pending = self._durable.get(first.id)
            if pending is not None:
                await asyncio.shield(pending)
            return ClaimOutcome(first, replayed=True)
        book = self.launch_books.public(launch_id, fan_id)
        now = self._clock.now()
        if priority_code is None:
            refused = book.refusal(sku, now)
            if refused is not None:
                raise refused
        if admit is not None:
            admit(book)
        self._take(launch_id, fan_id, sku, quantity, now, priority_code)
        price = book.product.sku(sku)
        assert price is not None
        claim = Claim(
            id=new_id("clm"),
            launch_id=launch_id,
            fan_id=fan_id,
            sku=sku,
            quantity=quantity,
            unit_price=price.price.amount,
            currency=price.price.currency,
            created_at=now,
            expires_at=now + timedelta(seconds=book.launch.rules.payment_window_seconds),
            idempotency_key=idempotency_key,
            priority_code=priority_code,
        )
        if priority_code is not None:
            self.allocator.redeem(claim)
        self._record(claim)
        try:
            written = self._durable[claim.id] = self._store.claims.add(claim)
        except BaseException:
            self.ledger.strike(claim)
            raise
        written.add_done_callback(lambda done: self._written(done, claim))
        try:
            # Shielded: a cancelled request does not cancel the write replays wait on.
            await asyncio.shield(written)
        except asyncio.CancelledError:
            raise  # the write goes on; `_written` sees how it ends
        except BaseException:
            self.ledger.strike(claim)
            raise
        return ClaimOutcome(claim, replayed=False)

    def _written(self, done: asyncio.Future[None], claim: Claim) -> None:
        self._durable.pop(claim.id, None)
        # (a cancelled future was still written: the writer skips only its answer)
        if not done.cancelled() and done.exception() is not None:
            self.ledger.strike(claim)

    def writing(self, claim_id: str) -> asyncio.Future[None] | None:
        """The claim's write while it is not durable yet (a replay waits for it)."""
        return self._durable.get(claim_id)

    # -- what callers outside the engine ask of it, answered by its parts ------------
    def book(self, launch_id: str) -> LaunchBook:
        return self.launch_books.get(launch_id)

    @property
    def maker_news(self) -> MakerNews:
        """The team's e-mails (its `recipients` set by the platform from the team)."""
        return self.orders.maker_news

    def public_book(self, launch_id: str, fan_id: str | None = None) -> LaunchBook:
        return self.launch_books.public(launch_id, fan_id)

    def books(self) -> list[LaunchBook]:
        return self.launch_books.all()

    async def claim_of(self, fan_id: str, claim_id: str) -> Claim:
        """The fan's own claim (an archived one read back); another fan's is not found."""
        claim = await self.archive.claim(claim_id)
        if claim is None or claim.fan_id != fan_id:
            raise NotFound("claim")
        return claim

    async def claim_by_id(self, claim_id: str) -> Claim | None:
        return await self.archive.claim(claim_id)

    async def claims_of_launch(self, launch_id: str) -> list[Claim]:
        return await self.archive.claims_of_launch(launch_id)

    async def orders_of_launch(self, launch_id: str) -> list[Order]:
        return await self.archive.orders_of_launch(launch_id)

    async def order(self, order_id: str) -> Order | None:
        """The order, its claim and payments in memory (an archived one read back)."""
        return await self.archive.order(order_id)

    def order_for(self, claim_id: str) -> Order | None:
        """The order of a claim in memory (`claim_of` reads an archived claim back with
        its order)."""
        return self.orders.for_claim(claim_id)

    async def _revived(self, launch_id: str) -> None:
        await self.draws.load(self.launch_books.get(launch_id))

    async def cancel(self, fan_id: str, claim_id: str) -> Claim:
        await self.archive.claim(claim_id)
        return await self.releases.cancel(fan_id, claim_id)

    async def pay(
        self, fan_id: str, claim_id: str, method: str, token: str, idempotency_key: str
    ) -> PaymentOutcome:
        await self.archive.claim(claim_id)  # (an archived claim: refused as it stands)
        # Shielded: a client that hangs up mid-payment does not leave it half done (asked
        # the provider but not recorded the order, or recorded but not asked).
        return await asyncio.shield(
            self.checkout.pay(fan_id, claim_id, method, token, idempotency_key)
        )

    async def refund_order(
        self, order: Order, reason: str, *, unshipped_only: bool = False
    ) -> Order:
        await self.archive.claim(order.claim_id)  # its claim and payment in memory
        refund = self.checkout.refund(order, reason, unshipped_only=unshipped_only)
        return await asyncio.shield(refund)  # as `pay`

    async def refund_part(self, order: Order, amount: int, reason: str, key: str) -> Order:
        """Give part of a paid order's money back; the order stands (`PartRefunds`)."""
        await self.archive.claim(order.claim_id)  # its claim and payment in memory
        return await asyncio.shield(self.part_refunds.refund(order, amount, reason, key))

    async def expire_due(self) -> int:
        """Expire every held claim whose payment window has passed; return how many."""
        return await self.sweeper.expire_due()

    async def run_sweeper(self, max_sleep: float = 1.0) -> None:
        """Release unpaid claims as their windows pass. Runs until cancelled."""
        await self.sweeper.run(max_sleep)

    def next_expiry(self) -> datetime | None:
        """The earliest deadline the sweeper has still to act on (for its lag, /metrics)."""
        return self.scheduler.next()

    def in_background(self, work: Awaitable[object]) -> None:
        """Run `work` without anyone waiting for it; its failure is logged."""
        self.background.run(work)

    def now(self) -> datetime:
        return self._clock.now()
