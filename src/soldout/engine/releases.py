"""Closing held claims: expired or cancelled, each releases its units exactly once.

A claim is closed in memory at once (its units go back on sale in the same tick) and its
release is written after: by the caller in one write for many claims (the sweeper, a
cancelled launch), or queued in the background when a request finds a claim overdue
before the sweeper did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.errors import AlreadyPaid, ClaimExpired, Conflict
from soldout.engine.allocator import Allocator
from soldout.engine.background import Background
from soldout.engine.book import LaunchBook
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.ledger import ClaimLedger
from soldout.store.ports import Store

__all__ = ["Releases"]


class Releases:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        books: LaunchBooks,
        ledger: ClaimLedger,
        allocator: Allocator,
        background: Background,
        unit_returned: Callable[[LaunchBook, str], None],
    ) -> None:
        """`unit_returned(book, sku)`: a unit of a closed claim is on sale again."""
        self._store = store
        self._clock = clock
        self._books = books
        self._ledger = ledger
        self._allocator = allocator
        self._background = background
        self._unit_returned = unit_returned
        # told of each claim closed (the checkout closes its open payment pages)
        self.closed: list[Callable[[Claim], None]] = []

    def close(self, claim: Claim, state: ClaimState, at: datetime) -> None:
        """Move a held claim to expired or cancelled and free its units: exactly once."""
        if not claim.is_held:
            raise AssertionError(f"claim {claim.id} is {claim.state}, not held")
        claim.state, claim.closed_at = state, at
        book = self._books.get(claim.launch_id)
        self._allocator.release(claim, state)
        self._unit_returned(book, claim.sku)
        for told in self.closed:
            told(claim)

    async def cancel(self, fan_id: str, claim_id: str) -> Claim:
        claim = self._ledger.owned(fan_id, claim_id)
        if claim.state is ClaimState.CANCELLED:
            return claim
        self.refuse_unless_held(claim)
        now = self._clock.now()
        self.close(claim, ClaimState.CANCELLED, now)
        await self._store.claims.release_many([claim.id], ClaimState.CANCELLED, now)
        return claim

    def refuse_unless_held(self, claim: Claim) -> None:
        now = self._clock.now()
        if claim.is_overdue(now):
            self.close(claim, ClaimState.EXPIRED, now)
            self._release_in_background(claim)
        if claim.state is ClaimState.PAID:
            raise AlreadyPaid()
        if claim.state is ClaimState.EXPIRED:
            raise ClaimExpired()
        if claim.state is ClaimState.CANCELLED:
            raise Conflict("this claim was cancelled").with_code("claim_cancelled")

    async def release_holds_of_cancelled_launches(self) -> None:
        """Cancelling writes the launch and its releases in one transaction; this only
        repairs a record written otherwise (by an older version, or by hand)."""
        stale = [
            c
            for c in self._ledger.all_held()
            if self._books.get(c.launch_id).launch.cancelled_at is not None
        ]
        if stale:
            now = self._clock.now()
            for claim in stale:
                self.close(claim, ClaimState.CANCELLED, now)
            await self._store.claims.release_many([c.id for c in stale], ClaimState.CANCELLED, now)

    def _release_in_background(self, claim: Claim) -> None:
        """Queue the release now (in order with later claims); nobody waits for it."""
        assert claim.closed_at is not None
        self._background.run(
            self._store.claims.release_many([claim.id], claim.state, claim.closed_at)
        )
