"""The in-process `Allocator`: each launch's `LaunchBook`, decided on the event loop.

The books are the engine's (`launch_books.LaunchBooks`); this reads them by launch id and
moves their counters only through `LaunchBook` and `SkuStock`. The replay index is a dict
in this process, rebuilt from the claims on start; a key names one request to one
launch's claims (as in Redis, where each launch has its own index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode, too_few_to_set_aside
from soldout.domain.errors import InvalidInput
from soldout.engine.book import LaunchBook

__all__ = ["BookAllocator"]


class BookAllocator:
    """Implements `allocator.Allocator` over the launches' books."""

    def __init__(self, books: Mapping[str, LaunchBook]) -> None:
        self._books = books
        self._by_key: dict[tuple[str, str, str], Claim] = {}

    # -- the replay index ----------------------------------------------------------------
    def replay(self, fan_id: str, launch_id: str, key: str) -> Claim | None:
        return self._by_key.get((fan_id, launch_id, key))

    def remember(self, claim: Claim) -> None:
        self._by_key[(claim.fan_id, claim.launch_id, claim.idempotency_key)] = claim

    def forget(self, claim: Claim) -> None:
        key = (claim.fan_id, claim.launch_id, claim.idempotency_key)
        if self._by_key.get(key) is claim:
            del self._by_key[key]

    # -- the decision --------------------------------------------------------------------
    def take(
        self,
        launch_id: str,
        fan_id: str,
        sku: str,
        quantity: int,
        now: datetime,
        code: str | None = None,
        *,
        drawn: bool = False,
    ) -> None:
        book = self._books[launch_id]
        priority = book.code_for(code, sku, quantity, now) if code is not None else None
        book.decide(fan_id, sku, quantity, priority, now, drawn=drawn)

    def take_drawn(self, claim: Claim, now: datetime) -> None:
        self.take(claim.launch_id, claim.fan_id, claim.sku, claim.quantity, now, drawn=True)

    def redeem(self, claim: Claim) -> None:
        assert claim.priority_code is not None
        self._books[claim.launch_id].codes[claim.priority_code].redeemed_by_claim = claim.id

    def untake(self, claim: Claim) -> None:
        book = self._books[claim.launch_id]
        if claim.is_held:
            code = claim.priority_code
            book.undo(claim, spent_code=code is not None)
            if code is not None:
                book.codes[code].redeemed_by_claim = None
        else:
            # Already released (its units are back in the open pool) or paid meanwhile;
            # a code stays spent rather than promise a unit no longer set aside. This
            # only happens once the store has failed, and a restart rebuilds all counts.
            book.claim_states[claim.state] -= 1

    # -- a claim's units after the race --------------------------------------------------
    def release(self, claim: Claim, state: ClaimState) -> None:
        book = self._books[claim.launch_id]
        book.give_back(claim)
        book.count(ClaimState.HELD, state)

    def settle(self, claim: Claim) -> None:
        book = self._books[claim.launch_id]
        book.stock[claim.sku].settle(claim.quantity)
        book.count(ClaimState.HELD, ClaimState.PAID)

    def unsettle(self, claim: Claim) -> None:
        book = self._books[claim.launch_id]
        book.stock[claim.sku].unsettle(claim.quantity)
        book.count(ClaimState.PAID, ClaimState.HELD)

    def unsell(self, claim: Claim) -> None:
        book = self._books[claim.launch_id]
        book.give_back_paid(claim)
        book.count(ClaimState.PAID, ClaimState.CANCELLED)

    def restore(self, claim: Claim) -> None:
        self._books[claim.launch_id].restore(claim)

    def units_of(self, launch_id: str, fan_id: str) -> int:
        return self._books[launch_id].fan_units.get(fan_id, 0)

    # -- units set aside for priority codes ----------------------------------------------
    def set_aside(self, launch_id: str, sku: str | None, count: int) -> list[str]:
        book = self._books[launch_id]
        if sku is not None and sku not in book.stock:
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        pools = [sku] if sku is not None else list(book.stock)
        open_units = sum(book.stock[p].available for p in pools)
        if count > open_units:
            raise too_few_to_set_aside(open_units)
        skus = []
        for _ in range(count):
            held = max(pools, key=lambda p: book.stock[p].available)
            book.stock[held].set_aside_units(1)
            skus.append(held)
        return skus

    def add_codes(self, codes: Sequence[PriorityCode]) -> None:
        for code in codes:
            self._books[code.launch_id].codes[code.code] = code

    def withdraw_codes(self, codes: Sequence[PriorityCode]) -> None:
        for code in codes:
            book = self._books[code.launch_id]
            book.stock[code.sku].set_aside -= 1
            del book.codes[code.code]

    def restore_code(self, code: PriorityCode, now: datetime) -> None:
        self._books[code.launch_id].restore_code(code, now)

    def expire_code(self, launch_id: str, code: str, now: datetime) -> str | None:
        """Nothing to write: an expired code is known from its `expires_at`; only the
        count of units set aside changes, here and on every restart alike."""
        book = self._books.get(launch_id)
        if book is None:  # its launch was removed meanwhile
            return None
        found = book.codes[code]
        return found.sku if book.expire_code(found, now) else None
