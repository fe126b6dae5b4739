"""Draw launches: at `sale_opens_at` the reservations (entries) are drawn per SKU; winners
get a claim with the payment window, and whenever a drawn unit comes back (an expired or
cancelled claim, an order refunded before shipping) it goes to the next backup entrant.

The seed is made when the launch is created and kept with the data; its commitment is
public from the start and the seed itself from the draw on. The draw is a pure function of
the seed and the entries (`domain/draw.py`), so it is not stored: it is recomputed on
start, and the claims it made tell how far down the backup list the launch has gone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from soldout.clock import Clock
from soldout.domain.claims import Claim
from soldout.domain.draw import DrawResult, Entry, commitment, draw, publication
from soldout.domain.errors import DomainError
from soldout.domain.launches import Launch, Phase
from soldout.domain.notifications import Notification
from soldout.engine.allocator import Allocator
from soldout.engine.background import Background
from soldout.engine.backups import BackupLists
from soldout.engine.book import LaunchBook
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.ledger import ClaimLedger
from soldout.engine.scheduler import DrawTime, Scheduler
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["RESERVED_KEY_PREFIX", "DrawDesk", "seed_name"]

log = logging.getLogger(__name__)

# Idempotency keys of the claims a draw makes; fans may not send keys with this prefix.
RESERVED_KEY_PREFIX = "draw-"
WINNER_KEY, BACKUP_KEY = f"{RESERVED_KEY_PREFIX}winner", f"{RESERVED_KEY_PREFIX}backup"
RETRY = timedelta(seconds=1)


def seed_name(launch_id: str) -> str:
    return f"draw-seed:{launch_id}"


class DrawDesk:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        books: LaunchBooks,
        allocator: Allocator,
        ledger: ClaimLedger,
        scheduler: Scheduler,
        background: Background,
        backups: BackupLists,
    ) -> None:
        self._store = store
        self._clock = clock
        self._books = books
        self._allocator = allocator
        self._ledger = ledger
        self._scheduler = scheduler
        self._background = background
        self._results: dict[str, DrawResult] = {}
        self.backups = backups  # who still waits on each drawn launch's lists

    async def commit(self, launch_id: str) -> str:
        """The public commitment to a new draw launch's seed (made and kept now)."""
        return commitment(await self._store.secret(seed_name(launch_id)))

    def draw_at(self, at: datetime, launch_id: str) -> None:
        """Wake the sweeper at `at` to draw the launch (its opening, or a retry)."""
        self._scheduler.schedule(DrawTime(at, launch_id))

    def unit_returned(self, book: LaunchBook, sku: str) -> None:
        """In a drawn launch a returned unit goes to the next backup entrant."""
        launch = book.launch
        if launch.is_draw and launch.drawn_at is not None and launch.cancelled_at is None:
            self._background.run(self.next_backup(book, sku))

    def forget(self, launch_id: str) -> None:
        """A removed launch (a rehearsal's) or an archived one: its result and backup lists
        go (its book's too: memory is bounded by the live launches)."""
        self._results.pop(launch_id, None)
        self.backups.forget(launch_id)
        book = self._books.by_id.get(launch_id)
        if book is not None:
            book.backups = None

    def entries(self, book: LaunchBook) -> list[Entry]:
        return [
            Entry(r.id, r.fan_id, r.sku)
            for r in book.reservations.values()
            if r.sku is not None and r.sku in book.stock
        ]

    async def load(self, book: LaunchBook) -> None:
        """On start: recompute a drawn launch's result; schedule one still to draw."""
        launch = book.launch
        if not launch.is_draw or launch.cancelled_at is not None:
            return
        if launch.drawn_at is None:
            self.draw_at(launch.sale_opens_at, launch.id)
            return
        seed = await self._store.secret(seed_name(launch.id))
        result = self._results[launch.id] = draw(seed, self.entries(book), launch.draw_units or {})
        claimed = {c.fan_id for c in self._ledger.of_launch(launch.id)}
        book.backups = self.backups.start(launch.id, result, claimed)

    async def run(self, launch_id: str) -> None:
        """Draw now: every SKU's open units go to its winners, as held claims. A launch not
        open yet (moved, paused, still a draft) is drawn when it opens."""
        book = self._books.get(launch_id)
        launch = book.launch
        if not launch.is_draw or launch.drawn_at is not None or launch.cancelled_at is not None:
            return
        now = self._clock.now()
        try:
            book.check_open(now)
        except DomainError:
            if launch.phase(now) is not Phase.CLOSED:  # not yet: try again shortly
                self.draw_at(max(now, launch.sale_opens_at) + RETRY, launch_id)
            return
        seed = await self._store.secret(seed_name(launch_id))
        units = {sku: stock.available for sku, stock in book.stock.items()}
        result = draw(seed, self.entries(book), units)
        claims: list[Claim] = []
        for sku in result.skus:
            for entry in result.skus[sku].winners:
                try:
                    claims.append(
                        self._hold(book, entry.fan_id, sku, f"{WINNER_KEY}:{entry.reservation_id}")
                    )
                except DomainError as refusal:  # e.g. the fan's limit is already reached
                    log.info("winner %s not served: %s", entry.reservation_id, refusal.message)
        book.launch = launch.with_changes(drawn_at=now, draw_units=units)
        won = {c.fan_id for c in claims}
        notes = [self._won(c) for c in claims] + self._not_drawn(book, result, won, now)
        # The launch's drawn_at and the winners' claims commit together: a restart finds
        # either no draw (and draws again, identically) or the whole of it.
        try:
            await self._write(claims, notes, launch=book.launch)
        except BaseException:
            book.launch = launch
            raise
        self._results[launch_id] = result  # published (with the seed) only once recorded
        claimed = {c.fan_id for c in self._ledger.of_launch(launch_id)}
        book.backups = self.backups.start(launch_id, result, claimed)
        log.info("launch %s drawn: %d winners", launch_id, len(claims))
        for sku in result.skus:  # units a winner could not take go down the backup list
            self.unit_returned(book, sku)

    async def next_backup(self, book: LaunchBook, sku: str) -> None:
        """A drawn unit of `sku` came back: it goes to the next backup who has none yet."""
        launch_id = book.launch.id
        result = self._results.get(launch_id)
        if result is None or sku not in result.skus or book.stock[sku].available <= 0:
            return
        for entry in self.backups.waiting(launch_id, sku):
            try:
                book.check_open(self._clock.now())
            except DomainError:
                return  # paused or closed: nobody is served now (resume serves them)
            try:
                claim = self._hold(book, entry.fan_id, sku, f"{BACKUP_KEY}:{entry.reservation_id}")
            except DomainError as refusal:  # this fan cannot take it: the next one may
                log.info("backup %s not served: %s", entry.reservation_id, refusal.message)
                self.backups.serve(launch_id, entry.fan_id)
                continue
            await self._write([claim], [self._won(claim, backup=True)])
            return

    def _hold(self, book: LaunchBook, fan_id: str, sku: str, key: str) -> Claim:
        """Allocate one unit to a drawn fan (in memory; `_write` records it)."""
        now = self._clock.now()
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
        self._allocator.take_drawn(claim, now)
        self._ledger.add(claim)
        return claim

    async def _write(
        self, claims: list[Claim], notes: list[Notification], launch: Launch | None = None
    ) -> None:
        """Record drawn claims with their notifications (and the drawn launch) in one
        transaction."""
        try:
            async with self._store.transaction() as tx:
                if launch is not None:
                    tx.launches.update(launch)
                for claim in claims:
                    tx.claims.add(claim)
                tx.notifications.add_many(notes)
        except BaseException:
            for claim in claims:
                self._ledger.strike(claim)
            raise

    def backup_place(self, book: LaunchBook, fan_id: str) -> tuple[str, int] | None:
        """(SKU, place) of a fan waiting on a drawn launch's backup list: place 1 is offered
        the next unit that comes back. None if the fan is not waiting there."""
        return self.backups.place(book.launch.id, fan_id)

    def _won(self, claim: Claim, *, backup: bool = False) -> Notification:
        how = "A unit came back and you were next on the backup list" if backup else "You won"
        return Notification(
            new_id("ntf"),
            claim.fan_id,
            "draw_won",
            f"{how}: one {claim.sku} is held for you until {claim.expires_at:%Y-%m-%d %H:%M}"
            " UTC. Pay to confirm it.",
            claim.created_at,
            {
                "claim_id": claim.id,
                "launch_id": claim.launch_id,
                "sku": claim.sku,
                "backup": backup,
                "expires_at": claim.expires_at.isoformat(),
            },
        )

    @staticmethod
    def _not_drawn(
        book: LaunchBook, result: DrawResult, won: set[str], now: datetime
    ) -> list[Notification]:
        """Every entrant who did not win is told, with their place on the backup list."""
        notes = []
        for sku, drawn in result.skus.items():
            place = 0
            for entry in drawn.backups:
                if entry.fan_id in won:
                    continue
                place += 1
                notes.append(
                    Notification(
                        new_id("ntf"),
                        entry.fan_id,
                        "draw_lost",
                        f"You were not drawn for {book.launch.title!r} this time. You are"
                        f" number {place} on the backup list. A unit a winner does not pay"
                        " for, or gives back, goes to the next backup. If that is you, we tell"
                        " you at once.",
                        now,
                        {"launch_id": book.launch.id, "sku": sku, "backup_place": place},
                    )
                )
        return notes

    async def document(self, book: LaunchBook) -> dict[str, Any]:
        """The public record of a draw: before it, the commitment and the entries; after
        it, the seed and the result too (`soldout verify-draw` checks it)."""
        launch = book.launch
        entries = self.entries(book)
        result = self._results.get(launch.id)
        seed = await self._store.secret(seed_name(launch.id)) if result else None
        units = (
            {sku: d.units for sku, d in result.skus.items()}
            if result is not None
            else {sku: s.available for sku, s in book.stock.items()}
        )
        return publication(
            launch.id,
            launch.draw_commitment or "",
            seed,
            entries,
            result,
            units=units,
        )
