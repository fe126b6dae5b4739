"""The sale engine: decides claims in memory, makes them durable, then answers.

One process owns the counters. A decision is synchronous (atomic on the event loop); the
claim is then written through the store's group commit, and only after that write is
durable does the caller get its answer. On start the engine rebuilds every counter from
the store, so a crash loses nothing that a fan was told about.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soldout.clock import Clock
from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import (
    AlreadyPaid,
    ClaimExpired,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
)
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
from soldout.domain.rehearsals import REHEARSAL_FAN_MARK
from soldout.engine.book import LaunchBook
from soldout.engine.checkout import Checkout, PaymentOutcome
from soldout.engine.draws import DRAW_PREFIX, DrawDesk
from soldout.engine.expiry import ExpiryQueue
from soldout.engine.orders import OrderDesk
from soldout.engine.rehearsals import RehearsalMarks
from soldout.engine.ship_news import ShipNews
from soldout.ids import CODE_PREFIX, new_id, new_priority_code
from soldout.payments import PaymentProvider
from soldout.store.ports import Store

__all__ = ["ClaimOutcome", "PaymentOutcome", "SaleEngine"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    claim: Claim
    replayed: bool


class SaleEngine:
    """Owns the launches' books and every claim. Not thread-safe: one event loop drives it."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        payments: PaymentProvider,
        *,
        payment_timeout: float = 10.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._books: dict[str, LaunchBook] = {}
        self._claims: dict[str, Claim] = {}
        self._by_key: dict[tuple[str, str], Claim] = {}
        self._durable: dict[str, asyncio.Future[None]] = {}
        self._expiries = ExpiryQueue(clock)
        self._background: set[asyncio.Future[object]] = set()
        self._code_books: dict[str, LaunchBook] = {}
        self._held_by_fan: dict[str, set[str]] = {}  # fan -> ids of claims maybe still held
        self._by_launch: dict[str, list[Claim]] = {}  # launch -> its claims, in order made
        self.rehearsals = RehearsalMarks()  # which fans each rehearsal made up
        self.ship_news = ShipNews(self)
        self.orders = OrderDesk(self)
        self.draws = DrawDesk(self)
        self.checkout = Checkout(self, payments, payment_timeout)

    @property
    def store(self) -> Store:
        return self._store

    # -- start -----------------------------------------------------------------------
    async def load(self) -> None:
        """Rebuild every counter from the store (on start, and after a crash)."""
        self.rehearsals.load(await self._store.rehearsals.marks())
        products = {p.id: p for p in await self._store.products.all()}
        for launch in await self._store.launches.all():
            self._books[launch.id] = LaunchBook.open(launch, products[launch.product_id])
        for reservation in await self._store.reservations.all():
            book = self._books[reservation.launch_id]
            book.reservations[reservation.fan_id] = reservation
            book.entered.append(reservation)
        now = self._now()
        for code in await self._store.codes.all():
            self._books[code.launch_id].restore_code(code, now)
            self._watch_code(code)
        for claim in await self._store.claims.all():
            first = self._by_key.get((claim.fan_id, claim.idempotency_key))
            self._index(claim)
            if first is not None:  # never written by the engine; the store allows it
                log.error("claims %s and %s share one Idempotency-Key", first.id, claim.id)
                self._by_key[(claim.fan_id, claim.idempotency_key)] = first
            self._books[claim.launch_id].restore(claim)
        self.checkout.load(list(await self._store.payments.all()))
        await self.orders.load(await self._store.orders.all(), await self._store.plans.all())
        await self._release_holds_of_cancelled_launches()
        for book in self._books.values():
            await self.draws.load(book)
        for fan_id in await self._store.fans.erased():
            self.draws.backups.pass_over(fan_id)

    async def _release_holds_of_cancelled_launches(self) -> None:
        """Cancelling writes the launch and its releases in one transaction; this only
        repairs a record written otherwise (by an older version, or by hand)."""
        stale = [
            c
            for c in self._claims.values()
            if c.is_held and self._books[c.launch_id].launch.cancelled_at is not None
        ]
        if stale:
            now = self._now()
            for claim in stale:
                self._close(claim, ClaimState.CANCELLED, now)
            await self._store.claims.release_many([c.id for c in stale], ClaimState.CANCELLED, now)

    # -- launches --------------------------------------------------------------------
    def book(self, launch_id: str) -> LaunchBook:
        book = self._books.get(launch_id)
        if book is None:
            raise NotFound("launch")
        return book

    def public_book(self, launch_id: str, fan_id: str | None = None) -> LaunchBook:
        """A launch as `fan_id` (None: anyone) may see it: a draft does not exist for fans,
        nor a rehearsal's launch for anyone but the fans that run made up (and a real
        launch not for them: `domain.rehearsals.may_see`)."""
        book = self.book(launch_id)
        launch = book.launch
        if not launch.published or (
            # (the check itself only for a rehearsal's launch or fan: the claim path)
            (launch.rehearsal is not None or (fan_id or "").startswith(REHEARSAL_FAN_MARK))
            and not self.rehearsals.sees(fan_id, launch)
        ):
            raise NotFound("launch")
        return book

    def books(self) -> list[LaunchBook]:
        return list(self._books.values())

    def product_changed(self, product: Product) -> None:
        """The maker edited a product: its launches show the new names and prices (a claim
        keeps the price it was made at)."""
        for book in self._books.values():
            if book.product.id == product.id:
                book.product = product

    async def add_launch(self, launch: Launch, product: Product) -> LaunchBook:
        if launch.is_draw:
            launch = launch.with_changes(draw_commitment=await self.draws.commit(launch.id))
        await self._store.launches.add(launch)
        book = self._books[launch.id] = LaunchBook.open(launch, product)
        if launch.is_draw:
            self.schedule(launch.sale_opens_at, DRAW_PREFIX + launch.id)
        return book

    async def change_launch(self, launch: Launch) -> LaunchBook:
        """Apply new times, a larger batch or a cancellation (which releases every hold)."""
        book = self.book(launch.id)
        for sku, qty in launch.batch.items():  # check every SKU before changing any
            if qty < book.stock[sku].batch:
                raise InvalidInput(
                    "a batch can grow but not shrink once the launch exists", field=f"batch.{sku}"
                )
        before = book.launch
        if before.drawn_at is not None and launch.sale_opens_at != before.sale_opens_at:
            raise InvalidInput("a drawn launch cannot move its opening", field="sale_opens_at")
        for sku, qty in launch.batch.items():
            book.stock[sku].grow(qty)
        book.launch = launch
        if launch.is_draw and launch.drawn_at is None and launch.cancelled_at is None:
            self.schedule(launch.sale_opens_at, DRAW_PREFIX + launch.id)  # moved, published
        if before.paused_at is not None and launch.paused_at is None:
            for sku in book.stock:  # units that came back while paused
                self.unit_returned(book, sku)
        released: list[Claim] = []
        if launch.cancelled_at is not None:
            released = [c for c in self._claims.values() if c.launch_id == launch.id and c.is_held]
            for claim in released:
                self._close(claim, ClaimState.CANCELLED, launch.cancelled_at)
        # Queued together, so they commit in one transaction: never a cancelled launch
        # whose holds are still on record as held.
        writes = [self._store.launches.update(launch)]
        if released:
            at = launch.cancelled_at or self._now()
            writes.append(
                self._store.claims.release_many([c.id for c in released], ClaimState.CANCELLED, at)
            )
        if launch.cancelled_at is not None:
            buyers = {o.fan_id for o in self.orders.all() if o.launch_id == launch.id}
            told = ({c.fan_id for c in released} | set(book.reservations)) - buyers
            notes = [
                Notification(
                    new_id("ntf"),
                    fan_id,
                    "launch_cancelled",
                    f"The launch {launch.title!r} was cancelled; any unit you held was"
                    " released and nothing was charged for it.",
                    launch.cancelled_at,
                    {"launch_id": launch.id, "bought": False},
                )
                for fan_id in sorted(told)
            ] + [
                Notification(
                    new_id("ntf"),
                    fan_id,
                    "launch_cancelled",
                    f"The launch {launch.title!r} was cancelled. Your paid order stands: it"
                    " ships as planned unless you cancel it for a full refund.",
                    launch.cancelled_at,
                    {"launch_id": launch.id, "bought": True},
                )
                for fan_id in sorted(buyers)
            ]
            writes.append(self._store.notifications.add_many(notes))
        await asyncio.gather(*writes)
        return book

    # -- reservations and codes ------------------------------------------------------
    async def reserve(
        self, launch_id: str, fan_id: str, sku: str | None = None
    ) -> tuple[Reservation, bool]:
        book = self.public_book(launch_id, fan_id)
        existing = book.reservations.get(fan_id)
        if existing is not None:
            pending = self._durable.get(existing.id)
            if pending is not None:  # the first request's write: answer once it is durable
                await asyncio.shield(pending)
            return existing, False
        now = self._now()
        launch = book.launch
        opens = launch.reservations_open_at
        if not launch.published or launch.cancelled_at is not None or now >= launch.sale_opens_at:
            raise Conflict("reservations for this launch are closed").with_code(
                "reservations_closed"
            )
        if opens is not None and now < opens:
            raise Conflict("reservations are not open yet").with_code("reservations_not_open")
        reservation = Reservation(new_id("res"), launch_id, fan_id, now, sku)
        book.reservations[fan_id] = reservation
        book.entered.append(reservation)
        try:
            written = self._durable[reservation.id] = self._store.reservations.add(reservation)
            # queued in the same tick: the confirmation commits with the reservation
            told = self._store.notifications.add_many([_reserved_note(book, reservation)])
        except BaseException:
            del book.reservations[fan_id]
            raise
        told.add_done_callback(_quiet)  # its outcome is the reservation's (one transaction)
        written.add_done_callback(lambda done: self._reserved(done, book, reservation))
        await asyncio.shield(written)
        return reservation, True

    def _reserved(
        self, done: asyncio.Future[None], book: LaunchBook, reservation: Reservation
    ) -> None:
        self._durable.pop(reservation.id, None)
        failed = not done.cancelled() and done.exception() is not None
        if failed and book.reservations.get(reservation.fan_id) is reservation:
            del book.reservations[reservation.fan_id]  # not on record: it never happened

    async def issue_codes(
        self,
        launch_id: str,
        sku: str | None,
        count: int,
        expires_at: datetime | None = None,
        granted_to: str | None = None,
    ) -> list[PriorityCode]:
        """Set `count` units aside and make a code for each. Without a SKU the codes are for
        any SKU: each sets aside a unit of the SKU with the most units open right now."""
        book = self.book(launch_id)
        now = self._now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("the expiry must be in the future", field="expires_at")
        if sku is not None and sku not in book.stock:
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        pools = [sku] if sku is not None else list(book.stock)
        open_units = sum(book.stock[p].available for p in pools)
        if count > open_units:
            raise Conflict(
                f"only {open_units} units are open to set aside", field="count"
            ).with_code("insufficient_stock")
        codes = []
        for _ in range(count):
            held = max(pools, key=lambda p: book.stock[p].available)
            book.stock[held].set_aside_units(1)
            codes.append(
                PriorityCode(
                    new_priority_code(),
                    launch_id,
                    held,
                    now,
                    expires_at=expires_at,
                    any_sku=sku is None,
                    granted_to=granted_to,
                )
            )
        for code in codes:
            book.codes[code.code] = code
        written = asyncio.ensure_future(self._store.codes.add_many(codes))
        try:
            await asyncio.shield(written)  # a cancelled request: the codes are still made
        except asyncio.CancelledError:
            raise
        except BaseException:
            for code in codes:
                book.stock[code.sku].set_aside -= 1
                del book.codes[code.code]
            raise
        for code in codes:
            self._watch_code(code)
        return codes

    def _watch_code(self, code: PriorityCode) -> None:
        """A live code with an expiry: the sweeper returns its unit when it expires."""
        self._code_books[code.code] = self._books[code.launch_id]
        if code.expires_at is not None and not code.is_spent:
            self._expiries.push(code.expires_at, code.code)

    # -- the hot path ----------------------------------------------------------------
    def refusal(
        self, fan_id: str, launch_id: str, sku: str, idempotency_key: str, with_code: bool
    ) -> DomainError | None:
        """The refusal `claim` would raise from memory alone, before deciding (not open,
        closed, paused, sold out), or None. A replay, a claim with a priority code and an
        unknown launch are left to `claim`."""
        if with_code or (fan_id, idempotency_key) in self._by_key:
            return None
        book = self._books.get(launch_id)
        if book is None or not book.launch.published:
            return None
        launch = book.launch
        if (
            launch.rehearsal is not None or fan_id.startswith(REHEARSAL_FAN_MARK)
        ) and not self.rehearsals.sees(fan_id, launch):
            return None  # `claim` answers 404, as for a launch that does not exist
        return book.refusal(sku, self._now())

    async def claim(
        self,
        fan_id: str,
        launch_id: str,
        sku: str,
        quantity: int,
        idempotency_key: str,
        priority_code: str | None = None,
        admit: Callable[[LaunchBook], None] | None = None,
    ) -> ClaimOutcome:
        """Decide, record durably, answer. A retry with the same key returns the first claim
        (after it is durable), before any refusal is considered. `admit(book)` raises if
        the launch's gate (waiting room, proof of work, duplicates) refuses the fan."""
        first = self._by_key.get((fan_id, idempotency_key))
        if first is not None:
            if not first.same_request(launch_id, sku, quantity, priority_code):
                raise IdempotencyKeyReused(field="Idempotency-Key")
            pending = self._durable.get(first.id)
            if pending is not None:
                await asyncio.shield(pending)
            return ClaimOutcome(first, replayed=True)
        book = self.public_book(launch_id, fan_id)
        now = self._now()
        if priority_code is None:
            refused = book.refusal(sku, now)
            if refused is not None:
                raise refused
        if admit is not None:
            admit(book)
        code = book.code_for(priority_code, sku, quantity, now)
        book.decide(fan_id, sku, quantity, code, now)
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
            priority_code=code.code if code else None,
        )
        if code is not None:
            code.redeemed_by_claim = claim.id
        self._index(claim)
        try:
            written = self._durable[claim.id] = self._store.claims.add(claim)
        except BaseException:
            self._undo_claim(book, claim, code)
            raise
        written.add_done_callback(lambda done: self._written(done, book, claim, code))
        try:
            # Shielded: a cancelled request does not cancel the write replays wait on.
            await asyncio.shield(written)
        except asyncio.CancelledError:
            raise  # the write goes on; `_written` sees how it ends
        except BaseException:
            self._undo_claim(book, claim, code)
            raise
        return ClaimOutcome(claim, replayed=False)

    def _written(
        self, done: asyncio.Future[None], book: LaunchBook, claim: Claim, code: PriorityCode | None
    ) -> None:
        self._durable.pop(claim.id, None)
        # (a cancelled future was still written: the writer skips only its answer)
        if not done.cancelled() and done.exception() is not None:
            self._undo_claim(book, claim, code)

    def _undo_claim(self, book: LaunchBook, claim: Claim, code: PriorityCode | None) -> None:
        """The claim's write failed: it never happened. Nobody was told yes (the answer
        waits for the write), and a retry with the same key is decided afresh. Runs once
        however often it is called."""
        if self._claims.get(claim.id) is not claim:
            return
        del self._claims[claim.id]
        del self._by_key[(claim.fan_id, claim.idempotency_key)]
        if claim.is_held:
            book.undo(claim, spent_code=code is not None)
            if code is not None:
                code.redeemed_by_claim = None
        else:
            # Already released (its units are back in the open pool) or paid meanwhile;
            # a code stays spent rather than promise a unit no longer set aside. This
            # only happens once the store has failed, and a restart rebuilds all counts.
            book.claim_states[claim.state] -= 1

    # -- claims after the race -------------------------------------------------------
    def claim_of(self, fan_id: str, claim_id: str) -> Claim:
        """The fan's own claim; another fan's claim is indistinguishable from a missing one."""
        claim = self._claims.get(claim_id)
        if claim is None or claim.fan_id != fan_id:
            raise NotFound("claim")
        return claim

    def describe(self, claim: Claim) -> str:
        """What the claim buys, in words a payment page shows: "Phone 2 (Black, 128 GB)"."""
        product = self.book(claim.launch_id).product
        sku = product.sku(claim.sku)
        each = f"{product.name} ({sku.name if sku else claim.sku})"
        return each if claim.quantity == 1 else f"{claim.quantity} x {each}"

    def claim_by_id(self, claim_id: str) -> Claim:
        return self._claims[claim_id]

    def held_claims(self, fan_id: str) -> list[Claim]:
        """The fan's claims held now, soonest deadline first. From an index kept as claims
        are made (pruned here of those paid, released or undone since): a fan's page costs
        as many lookups as the fan has claims, not a pass over the sale."""
        ids = self._held_by_fan.get(fan_id)
        if not ids:
            return []
        held = [c for i in ids if (c := self._claims.get(i)) is not None and c.is_held]
        if len(held) != len(ids):
            if held:
                self._held_by_fan[fan_id] = {c.id for c in held}
            else:
                del self._held_by_fan[fan_id]
        return sorted(held, key=lambda c: (c.expires_at, c.id))

    def all_held_claims(self) -> list[Claim]:
        """Every claim held now (a pass over the expiry queue: for checks, not pages)."""
        held = {i: c for i in self._expiries.waiting() if (c := self._claims.get(i)) and c.is_held}
        return sorted(held.values(), key=lambda c: (c.expires_at, c.id))

    def order_for(self, claim_id: str) -> Order | None:
        return self.orders.for_claim(claim_id)

    async def cancel(self, fan_id: str, claim_id: str) -> Claim:
        claim = self.claim_of(fan_id, claim_id)
        if claim.state is ClaimState.CANCELLED:
            return claim
        self.refuse_unless_held(claim)
        now = self._now()
        self._close(claim, ClaimState.CANCELLED, now)
        await self._store.claims.release_many([claim.id], ClaimState.CANCELLED, now)
        return claim

    async def pay(
        self, fan_id: str, claim_id: str, method: str, token: str, idempotency_key: str
    ) -> PaymentOutcome:
        # Shielded: a client that hangs up mid-payment does not leave it half done (asked
        # the provider but not recorded the order, or recorded but not asked).
        return await asyncio.shield(
            self.checkout.pay(fan_id, claim_id, method, token, idempotency_key)
        )

    async def record_order(
        self, claim: Claim, payment: PaymentRecord, shipping: ShippingAddress | None = None
    ) -> Order:
        return await self.orders.record(claim, payment, shipping)

    async def refund_order(
        self, order: Order, reason: str, *, unshipped_only: bool = False
    ) -> Order:
        refund = self.checkout.refund(order, reason, unshipped_only=unshipped_only)
        return await asyncio.shield(refund)  # as `pay`

    def refuse_unless_held(self, claim: Claim) -> None:
        now = self._now()
        if claim.is_overdue(now):
            self._close(claim, ClaimState.EXPIRED, now)
            self._release_in_background(claim)
        if claim.state is ClaimState.PAID:
            raise AlreadyPaid()
        if claim.state is ClaimState.EXPIRED:
            raise ClaimExpired()
        if claim.state is ClaimState.CANCELLED:
            raise Conflict("this claim was cancelled").with_code("claim_cancelled")

    def expire_later(self, claim: Claim) -> None:
        """A claim held again (its payment was not recorded) still expires on time."""
        self._expiries.push(claim.expires_at, claim.id)
        self._held_by_fan.setdefault(claim.fan_id, set()).add(claim.id)

    def in_background(self, work: Awaitable[object]) -> None:
        """Run `work` without anyone waiting for it; its failure is logged."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._forget_background)

    async def drain_background(self) -> None:
        """Wait until the work started in the background (and what it starts) is done."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def now(self) -> datetime:
        return self._clock.now()

    # -- expiry ----------------------------------------------------------------------
    async def expire_due(self) -> int:
        """Expire every held claim whose payment window has passed; return how many."""
        now = self._now()
        expired: list[Claim] = []
        draws = []
        for claim_id in self._expiries.due(now):
            if claim_id.startswith(DRAW_PREFIX):
                draws.append(claim_id.removeprefix(DRAW_PREFIX))
                continue
            if claim_id.startswith(CODE_PREFIX):
                self._expire_code(claim_id, now)
                continue
            claim = self._claims.get(claim_id)  # None: a claim undone after a failed write
            if claim is not None and claim.is_held:
                self._close(claim, ClaimState.EXPIRED, now)
                expired.append(claim)
        if expired:
            await self._store.claims.release_many([c.id for c in expired], ClaimState.EXPIRED, now)
        for launch_id in draws:
            try:
                await self.draws.run(launch_id)
            except Exception:  # one launch's failed draw must not stop the others
                log.exception("the draw of launch %s failed", launch_id)
        return len(expired)

    def _expire_code(self, code_id: str, now: datetime) -> None:
        """Nothing to write: an expired code is known from its `expires_at`; only the
        count of units set aside changes, here and on every restart alike."""
        book = self._code_books.get(code_id)
        if book is not None and book.expire_code(book.codes[code_id], now):
            self.unit_returned(book, book.codes[code_id].sku)

    def next_expiry(self) -> datetime | None:
        """The earliest deadline the sweeper has still to act on (for its lag, /metrics)."""
        return self._expiries.next()

    async def run_sweeper(self, max_sleep: float = 1.0) -> None:
        """Release unpaid claims as their windows pass. Runs until cancelled."""
        await self._expiries.run(self.expire_due, max_sleep)

    # -- internals -------------------------------------------------------------------
    def _index(self, claim: Claim) -> None:
        self._claims[claim.id] = claim
        self._by_key[(claim.fan_id, claim.idempotency_key)] = claim
        self._by_launch.setdefault(claim.launch_id, []).append(claim)
        if claim.is_held:
            self._expiries.push(claim.expires_at, claim.id)
            self._held_by_fan.setdefault(claim.fan_id, set()).add(claim.id)
        if self.draws.backups.tracks(claim.launch_id):  # (a drawn launch: one dict lookup)
            self.draws.backups.serve(claim.launch_id, claim.fan_id)

    def _close(self, claim: Claim, state: ClaimState, at: datetime) -> None:
        """Move a held claim to expired or cancelled and free its units: exactly once."""
        if not claim.is_held:
            raise AssertionError(f"claim {claim.id} is {claim.state}, not held")
        claim.state, claim.closed_at = state, at
        book = self.book(claim.launch_id)
        book.give_back(claim)
        book.count(ClaimState.HELD, state)
        self.unit_returned(book, claim.sku)
        self.checkout.claim_closed(claim)

    def unit_returned(self, book: LaunchBook, sku: str) -> None:
        """In a drawn launch a returned unit goes to the next backup entrant."""
        launch = book.launch
        if launch.is_draw and launch.drawn_at is not None and launch.cancelled_at is None:
            self.in_background(self.draws.next_backup(book, sku))

    # -- draws -----------------------------------------------------------------------
    def schedule(self, at: datetime, what: str) -> None:
        """Wake the sweeper at `at` for `what` (a draw)."""
        self._expiries.push(at, what)

    def claims_of_fan(self, fan_id: str) -> list[Claim]:
        """Every claim of one fan, in the order made (a scan: for rare requests only, such
        as a fan's data export)."""
        mine = [c for c in self._claims.values() if c.fan_id == fan_id]
        return sorted(mine, key=lambda c: (c.created_at, c.id))

    def claims_made(self, launch_id: str) -> Sequence[Claim]:
        """The launch's claims in the order made, as the engine keeps them: not a copy, for
        a reader that walks on from where it stopped (read only; pass over a claim that is
        not `recorded`)."""
        return self._by_launch.get(launch_id, ())

    def recorded(self, claim: Claim) -> bool:
        """The claim stands (not undone after a failed write, nor forgotten)."""
        return self._claims.get(claim.id) is claim

    def claims_of_launch(self, launch_id: str) -> list[Claim]:
        """The launch's claims in the order they were made (not every claim's: an index
        kept as claims are made; one undone after a failed write is left out)."""
        claims = self._claims
        return [c for c in self._by_launch.get(launch_id, ()) if claims.get(c.id) is c]

    def hold_for_draw(self, book: LaunchBook, fan_id: str, sku: str, key: str) -> Claim:
        """Allocate one unit to a drawn fan (in memory; `write_drawn` records it)."""
        now = self._now()
        book.decide(fan_id, sku, 1, None, now, drawn=True)
        price = book.product.sku(sku)
        assert price is not None
        claim = Claim(
            id=new_id("clm"),
            launch_id=book.launch.id,
            fan_id=fan_id,
            sku=sku,
            quantity=1,
            unit_price=price.price.amount,
            currency=price.price.currency,
            created_at=now,
            expires_at=now + timedelta(seconds=book.launch.rules.payment_window_seconds),
            idempotency_key=key,
        )
        self._index(claim)
        return claim

    async def write_drawn(
        self,
        book: LaunchBook,
        claims: list[Claim],
        notes: list[Notification],
        launch: Launch | None = None,
    ) -> None:
        """Record drawn claims with their notifications (and the drawn launch) in one
        transaction."""
        try:
            writes = [self._store.launches.update(launch)] if launch is not None else []
            writes += [self._store.claims.add(c) for c in claims]
            writes.append(self._store.notifications.add_many(notes))
            await asyncio.shield(asyncio.gather(*writes))
        except BaseException:
            for claim in claims:
                self._undo_claim(book, claim, None)
            raise

    def _release_in_background(self, claim: Claim) -> None:
        """Queue the release now (in order with later claims); nobody waits for it."""
        assert claim.closed_at is not None
        self.in_background(
            self._store.claims.release_many([claim.id], claim.state, claim.closed_at)
        )

    def _forget_background(self, done: asyncio.Future[object]) -> None:
        self._background.discard(done)
        if not done.cancelled() and done.exception() is not None:
            log.error("background work failed: %s", done.exception())

    def _now(self) -> datetime:
        return self._clock.now()


def _reserved_note(book: LaunchBook, reservation: Reservation) -> Notification:
    launch = book.launch
    what = "entered the draw for" if launch.is_draw else "reserved"
    return Notification(
        new_id("ntf"),
        reservation.fan_id,
        "reservation_confirmed",
        f"You {what} {launch.title!r}. The sale opens at"
        f" {launch.sale_opens_at:%Y-%m-%d %H:%M} UTC.",
        reservation.created_at,
        {
            "launch_id": launch.id,
            "reservation_id": reservation.id,
            "sku": reservation.sku,
            "draw": launch.is_draw,
            "sale_opens_at": launch.sale_opens_at.isoformat(),
        },
    )


def _quiet(done: asyncio.Future[None]) -> None:
    """Retrieve a write's outcome that another future already reports."""
    if not done.cancelled():
        done.exception()
