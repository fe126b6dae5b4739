"""The `Allocator` port: the atomic decision of a sale, and the counts it decides on.

Who may take how many units of which SKU, for which priority code, and which claim an
`Idempotency-Key` already made: everything that must be decided in one place for the
invariants to hold (no oversell, limits hold, exactly-once release, idempotent claims).
The engine asks; it never reaches into the allocator's counters.

The first implementation is in this process (`book_allocator.BookAllocator`, over each
launch's `LaunchBook`): one event loop, no await between the checks and the allocation,
so every call is atomic without locks. A scaled-out deployment answers the same calls
from a Redis script over keys sharing one hash slot per launch. So the port speaks in
ids and values (a `Claim` or `PriorityCode` handed in, a SKU or a claim handed back)
and never hands out a counter to change.

    allocator.take(launch_id, fan_id, "A", 1, now)   # or raise why not
    allocator.remember(claim)                         # its key now replays to it
    allocator.release(claim, ClaimState.EXPIRED)      # its units are open again
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode

__all__ = ["Allocator"]


class Allocator(Protocol):
    # -- the replay index: (fan, launch, Idempotency-Key) -> the claim first made with it
    def replay(self, fan_id: str, launch_id: str, key: str) -> Claim | None:
        """The claim this fan first made with this key on this launch, or None."""
        ...

    def remember(self, claim: Claim) -> None:
        """A retry with the claim's key gets this claim."""
        ...

    def forget(self, claim: Claim) -> None:
        """The claim's key no longer replays to it (it never happened, or is removed)."""
        ...

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
        """Hold `quantity` units of `sku` for the fan, or raise why not (`DomainError`):
        not open, unknown SKU, over the per-fan limit, sold out, reservation required.
        With `code`, the unit set aside for that priority code (checked first); `drawn`:
        a unit the launch's draw gives the fan."""
        ...

    def take_drawn(self, claim: Claim, now: datetime) -> None:
        """Hold the units of a claim the launch's draw gives its fan (a winner, or a backup
        a unit came back to): `take` with `drawn`, told the claim's id and key (an
        allocator outside the process records the claim under them). Raises as `take`."""
        ...

    def redeem(self, claim: Claim) -> None:
        """The claim's priority code is spent on it (right after `take`)."""
        ...

    def untake(self, claim: Claim) -> None:
        """The claim's write failed: reverse its `take` (and its code's redemption). A
        claim released or paid meanwhile keeps its units where they are now."""
        ...

    # -- a claim's units after the race --------------------------------------------------
    def release(self, claim: Claim, state: ClaimState) -> None:
        """A held claim expired or was cancelled (`state`): its units are open again and
        the fan's allowance is back."""
        ...

    def settle(self, claim: Claim) -> None:
        """A held claim was paid: its units are sold."""
        ...

    def unsettle(self, claim: Claim) -> None:
        """The order of a paid claim was not recorded: its units are held again."""
        ...

    def unsell(self, claim: Claim) -> None:
        """A paid claim's order was refunded before it shipped: its units are open again."""
        ...

    def restore(self, claim: Claim) -> None:
        """Count a claim read back from the record (on start)."""
        ...

    def units_of(self, launch_id: str, fan_id: str) -> int:
        """The units the fan holds or has bought in the launch (against its limit)."""
        ...

    # -- units set aside for priority codes ----------------------------------------------
    def set_aside(self, launch_id: str, sku: str | None, count: int) -> list[str]:
        """Set `count` open units aside, each of `sku` or (None) of the SKU with the most
        units open at that moment; the SKU of each. Refused if too few are open."""
        ...

    def add_codes(self, codes: Sequence[PriorityCode]) -> None:
        """These codes, each for a unit `set_aside` for it, may now be redeemed."""
        ...

    def withdraw_codes(self, codes: Sequence[PriorityCode]) -> None:
        """Codes that were never issued (their write failed): their units are open again."""
        ...

    def restore_code(self, code: PriorityCode, now: datetime) -> None:
        """Count a code read back from the record: a live one keeps its unit aside."""
        ...

    def expire_code(self, launch_id: str, code: str, now: datetime) -> str | None:
        """An unredeemed code reached its expiry: the SKU whose unit goes back on sale
        (once), or None if none does."""
        ...
