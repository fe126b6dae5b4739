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
from typing import TYPE_CHECKING, Any

from soldout.domain.claims import Claim
from soldout.domain.draw import DrawResult, Entry, commitment, draw, publication
from soldout.domain.errors import DomainError
from soldout.domain.launches import Phase
from soldout.domain.notifications import Notification
from soldout.engine.backups import BackupLists
from soldout.engine.book import LaunchBook
from soldout.ids import new_id

if TYPE_CHECKING:
    from soldout.engine.engine import SaleEngine

__all__ = ["DRAW_PREFIX", "DrawDesk"]

log = logging.getLogger(__name__)

DRAW_PREFIX = "draw:"  # on the expiry queue: the moment a launch is drawn
# Idempotency keys of the claims a draw makes; fans may not send keys with this prefix.
RESERVED_KEY_PREFIX = "draw-"
WINNER_KEY, BACKUP_KEY = f"{RESERVED_KEY_PREFIX}winner", f"{RESERVED_KEY_PREFIX}backup"
RETRY = timedelta(seconds=1)


def seed_name(launch_id: str) -> str:
    return f"draw-seed:{launch_id}"


class DrawDesk:
    def __init__(self, engine: SaleEngine) -> None:
        self._engine = engine
        self._results: dict[str, DrawResult] = {}
        self.backups = BackupLists()  # who still waits on each drawn launch's lists

    async def commit(self, launch_id: str) -> str:
        """The public commitment to a new draw launch's seed (made and kept now)."""
        return commitment(await self._engine.store.secret(seed_name(launch_id)))

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
            self._engine.schedule(launch.sale_opens_at, DRAW_PREFIX + launch.id)
            return
        seed = await self._engine.store.secret(seed_name(launch.id))
        result = self._results[launch.id] = draw(seed, self.entries(book), launch.draw_units or {})
        claimed = {c.fan_id for c in self._engine.claims_of_launch(launch.id)}
        self.backups.start(launch.id, result, claimed)

    async def run(self, launch_id: str) -> None:
        """Draw now: every SKU's open units go to its winners, as held claims. A launch not
        open yet (moved, paused, still a draft) is drawn when it opens."""
        book = self._engine.book(launch_id)
        launch = book.launch
        if not launch.is_draw or launch.drawn_at is not None or launch.cancelled_at is not None:
            return
        now = self._engine.now()
        try:
            book.check_open(now)
        except DomainError:
            if launch.phase(now) is not Phase.CLOSED:  # not yet: try again shortly
                self._engine.schedule(
                    max(now, launch.sale_opens_at) + RETRY, DRAW_PREFIX + launch_id
                )
            return
        seed = await self._engine.store.secret(seed_name(launch_id))
        units = {sku: stock.available for sku, stock in book.stock.items()}
        result = draw(seed, self.entries(book), units)
        claims: list[Claim] = []
        for sku in result.skus:
            for entry in result.skus[sku].winners:
                try:
                    claims.append(
                        self._engine.hold_for_draw(
                            book, entry.fan_id, sku, f"{WINNER_KEY}:{entry.reservation_id}"
                        )
                    )
                except DomainError as refusal:  # e.g. the fan's limit is already reached
                    log.info("winner %s not served: %s", entry.reservation_id, refusal.message)
        book.launch = launch.with_changes(drawn_at=now, draw_units=units)
        won = {c.fan_id for c in claims}
        notes = [self._won(c) for c in claims] + self._not_drawn(book, result, won, now)
        # The launch's drawn_at and the winners' claims commit together: a restart finds
        # either no draw (and draws again, identically) or the whole of it.
        try:
            await self._engine.write_drawn(book, claims, notes, launch=book.launch)
        except BaseException:
            book.launch = launch
            raise
        self._results[launch_id] = result  # published (with the seed) only once recorded
        claimed = {c.fan_id for c in self._engine.claims_of_launch(launch_id)}
        self.backups.start(launch_id, result, claimed)
        log.info("launch %s drawn: %d winners", launch_id, len(claims))
        for sku in result.skus:  # units a winner could not take go down the backup list
            self._engine.unit_returned(book, sku)

    async def next_backup(self, book: LaunchBook, sku: str) -> None:
        """A drawn unit of `sku` came back: it goes to the next backup who has none yet."""
        launch_id = book.launch.id
        result = self._results.get(launch_id)
        if result is None or sku not in result.skus or book.stock[sku].available <= 0:
            return
        for entry in self.backups.waiting(launch_id, sku):
            try:
                book.check_open(self._engine.now())
            except DomainError:
                return  # paused or closed: nobody is served now (resume serves them)
            try:
                claim = self._engine.hold_for_draw(
                    book, entry.fan_id, sku, f"{BACKUP_KEY}:{entry.reservation_id}"
                )
            except DomainError as refusal:  # this fan cannot take it: the next one may
                log.info("backup %s not served: %s", entry.reservation_id, refusal.message)
                self.backups.serve(launch_id, entry.fan_id)
                continue
            await self._engine.write_drawn(book, [claim], [self._won(claim, backup=True)])
            return

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
                        f" number {place} on the backup list: if a winner does not pay, their"
                        " unit goes to the next backup and we tell you at once.",
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
        seed = await self._engine.store.secret(seed_name(launch.id)) if result else None
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
