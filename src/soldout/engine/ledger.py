"""The claim ledger: every claim in memory, by id, by fan (those held) and by launch.

A claim enters it when it is decided (before its write is durable) and leaves it only if
that write fails (`strike`) or its launch is removed (`forget`). Entering, a claim's
`Idempotency-Key` starts replaying to it (the `Allocator`'s replay index) and, held, its
deadline goes on the sweeper's queue. Pages read from the indexes kept here rather than
pass over every claim of the sale.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from soldout.domain.claims import Claim
from soldout.domain.errors import NotFound
from soldout.engine.allocator import Allocator
from soldout.engine.scheduler import ClaimDeadline, Scheduler

__all__ = ["ClaimLedger"]

log = logging.getLogger(__name__)


class ClaimLedger:
    def __init__(
        self, allocator: Allocator, scheduler: Scheduler, served: Callable[[str, str], None]
    ) -> None:
        """`served(launch_id, fan_id)`: the fan holds a claim in the launch now (a drawn
        launch's backup list passes over them)."""
        self._allocator = allocator
        self._scheduler = scheduler
        self._served = served
        self._remember = allocator.remember  # (bound once: `add` runs on every claim)
        self._deadline = scheduler.deadline
        self._claims: dict[str, Claim] = {}
        self._held_by_fan: dict[str, set[str]] = {}  # fan -> ids of claims maybe still held
        self._by_launch: dict[str, list[Claim]] = {}  # launch -> its claims, in order made

    # -- entering and leaving ------------------------------------------------------------
    def add(self, claim: Claim) -> None:
        self._claims[claim.id] = claim
        self._remember(claim)
        self._by_launch.setdefault(claim.launch_id, []).append(claim)
        if claim.is_held:
            self._deadline(claim.expires_at, claim.id)
            self._held_by_fan.setdefault(claim.fan_id, set()).add(claim.id)
        self._served(claim.launch_id, claim.fan_id)  # (a drawn launch: one dict lookup)

    def restore(self, claim: Claim) -> None:
        """A claim read back from the record (on start), counted by the allocator."""
        first = self._allocator.replay(claim.fan_id, claim.launch_id, claim.idempotency_key)
        self.add(claim)
        if first is not None:  # never written by the engine; the store allows it
            log.error("claims %s and %s share one Idempotency-Key", first.id, claim.id)
            self._allocator.remember(first)
        self._allocator.restore(claim)

    def adopt(self, claim: Claim) -> Claim:
        """A claim of an archived launch, read back from the store for a page or a change:
        found by id from now on; not counted again (its launch's counts came from the
        store's tally), not listed with its launch (an archived launch's claims are read
        from the store), and its key does not replay (a retry meets the closed launch,
        whoever looked at the claim before). One already here wins: it may be newer."""
        known = self._claims.get(claim.id)
        if known is not None:
            return known
        self._claims[claim.id] = claim
        return claim

    def restore_launch(self, claims: Iterable[Claim]) -> None:
        """An archived launch made resident again: its claims, read back from the store,
        are counted and listed like those loaded on start (one adopted meanwhile is kept
        as it is in memory)."""
        for stored in claims:
            self.restore(self._claims.get(stored.id) or stored)

    def evict(self, launch_id: str) -> list[Claim]:
        """A launch archived while the server runs (none of its claims held): its claims
        leave every index, their keys no longer replay; which they were."""
        claims = self._by_launch.pop(launch_id, [])
        for claim in claims:
            if self._claims.get(claim.id) is claim:
                del self._claims[claim.id]
                self._allocator.forget(claim)
        return claims

    def strike(self, claim: Claim) -> None:
        """The claim's write failed: it never happened. Nobody was told yes (the answer
        waits for the write), and a retry with the same key is decided afresh. Runs once
        however often it is called."""
        if self._claims.get(claim.id) is not claim:
            return
        del self._claims[claim.id]
        self._allocator.forget(claim)
        self._allocator.untake(claim)

    def held_again(self, claim: Claim) -> None:
        """A claim held again (its payment was not recorded) still expires on time."""
        self._scheduler.deadline(claim.expires_at, claim.id)
        self._held_by_fan.setdefault(claim.fan_id, set()).add(claim.id)

    def forget(self, claims: Iterable[Claim], launch_ids: Iterable[str]) -> None:
        """Removed launches (a rehearsal's): their claims leave every index."""
        for claim in claims:
            del self._claims[claim.id]
            self._allocator.forget(claim)
        for launch_id in launch_ids:
            self._by_launch.pop(launch_id, None)

    # -- reading -------------------------------------------------------------------------
    def find(self, claim_id: str) -> Claim | None:
        return self._claims.get(claim_id)

    def by_id(self, claim_id: str) -> Claim:
        return self._claims[claim_id]

    def owned(self, fan_id: str, claim_id: str) -> Claim:
        """The fan's own claim; another fan's claim is indistinguishable from a missing one."""
        claim = self._claims.get(claim_id)
        if claim is None or claim.fan_id != fan_id:
            raise NotFound("claim")
        return claim

    def held_by(self, fan_id: str) -> list[Claim]:
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

    def all_held(self) -> list[Claim]:
        """Every claim held now (a pass over the sweeper's queue: for checks, not pages)."""
        claims = self._claims
        held = {
            w.claim_id: c
            for w in self._scheduler.waiting()
            if isinstance(w, ClaimDeadline) and (c := claims.get(w.claim_id)) and c.is_held
        }
        return sorted(held.values(), key=lambda c: (c.expires_at, c.id))

    def of_fan(self, fan_id: str) -> list[Claim]:
        """Every claim of one fan, in the order made (a scan: for rare requests only, such
        as a fan's data export)."""
        mine = [c for c in self._claims.values() if c.fan_id == fan_id]
        return sorted(mine, key=lambda c: (c.created_at, c.id))

    def made(self, launch_id: str) -> Sequence[Claim]:
        """The launch's claims in the order made, as the ledger keeps them: not a copy, for
        a reader that walks on from where it stopped (read only; pass over a claim that is
        not `recorded`)."""
        return self._by_launch.get(launch_id, ())

    def recorded(self, claim: Claim) -> bool:
        """The claim stands (not undone after a failed write, nor forgotten)."""
        return self._claims.get(claim.id) is claim

    def of_launch(self, launch_id: str) -> list[Claim]:
        """The launch's claims in the order they were made (not every claim's: an index
        kept as claims are made; one undone after a failed write is left out)."""
        claims = self._claims
        return [c for c in self._by_launch.get(launch_id, ()) if claims.get(c.id) is c]
