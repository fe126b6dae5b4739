"""A launch's in-memory book: counters per SKU, units per fan, reservations and codes.

The engine decides every claim here, synchronously, on one event loop: no await between
the checks and the allocation, so the decision is atomic without locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import (
    Closed,
    Conflict,
    DomainError,
    InsufficientStock,
    InvalidInput,
    LimitReached,
    NotOpen,
    ReservationRequired,
    SoldOut,
)
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch, Phase, Status
from soldout.domain.products import Product
from soldout.engine.allocation import SkuStock
from soldout.engine.backups import LaunchBackups

__all__ = ["LaunchBook"]

# What the hot path answers most, made once: `refusal(..., fresh=False)` hands these out
# to be rendered, never raised (a raised instance would keep each raise's traceback).
# Making a new one cost 0.5 us, 7 % of a sold-out answer.
_SOLD_OUT = SoldOut(field="sku")
_NOT_OPEN = NotOpen()
_CLOSED = Closed()
_PAUSED = Conflict("the sale is paused; try again shortly").with_code("paused")


@dataclass(slots=True)
class LaunchBook:
    launch: Launch
    product: Product
    stock: dict[str, SkuStock]
    fan_units: dict[str, int] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # every reservation in the order made, appended only: a reader walks on from where it
    # stopped (one no longer in `reservations`, erased or never written, is passed over)
    entered: list[Reservation] = field(default_factory=list)
    codes: dict[str, PriorityCode] = field(default_factory=dict)
    claim_states: dict[str, int] = field(default_factory=dict)
    expired_codes: set[str] = field(default_factory=set)
    # an archived launch's book: counted from the store's tally, without its claims, its
    # fans' units or its reservations (none is needed to refuse a claim once it closed)
    summary: bool = False
    reservations_archived: int = 0  # an archived launch's reservations, counted by the store
    # a drawn launch's backup lists (set by `DrawDesk` when it draws or loads the launch)
    backups: LaunchBackups | None = None
    # units refunded after they shipped, per SKU: still `paid` in the stock (gone from it),
    # but no sale (kept by `OrderDesk`)
    returned: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, launch: Launch, product: Product) -> LaunchBook:
        return cls(launch, product, {code: SkuStock(qty) for code, qty in launch.batch.items()})

    def status(self, now: datetime) -> Status:
        phase = self.launch.phase(now)
        if phase is Phase.ON_SALE and self.launch.paused_at is not None:
            return Status.PAUSED
        if phase is Phase.ON_SALE and self.sold_out():
            return Status.SOLD_OUT
        return Status(phase.value)

    def sold_out(self) -> bool:
        """True when no unit is open to everyone; units set aside for codes are not open,
        nor those of a drawn launch that nobody is waiting for (`open_units`)."""
        return all(self.open_units(sku) == 0 for sku in self.stock)

    def sold(self, sku: str) -> int:
        """Units of `sku` paid for and not refunded, as the margin and the report count
        them: a unit refunded before it shipped is back on sale, one refunded after is
        `returned`."""
        return self.stock[sku].paid - self.returned.get(sku, 0)

    def open_units(self, sku: str) -> int:
        """The units of `sku` fans can still get. Nobody may claim a drawn launch's unit:
        one that comes back goes to the next backup waiting, so only as many as wait are
        left; the others are unsold but out of every fan's reach (`unoffered`)."""
        available = self.stock[sku].available
        if self.backups is None or not self.launch.is_draw or self.launch.drawn_at is None:
            return available  # (not drawn, or an archived launch: its lists left memory)
        return min(available, self.backups.waiting_count(sku))

    def unoffered(self, sku: str) -> int:
        """Unsold units of a drawn launch's `sku` that no backup is left to be offered:
        the maker's to carry to a later launch."""
        return self.stock[sku].available - self.open_units(sku)

    def check_open(self, now: datetime) -> None:
        error = self._phase_refusal(now)
        if error is not None:
            raise error

    def _phase_refusal(self, now: datetime, fresh: bool = True) -> DomainError | None:
        phase = self.launch.phase(now)
        if phase is Phase.ON_SALE:
            if self.launch.paused_at is not None:
                if not fresh:
                    return _PAUSED
                return Conflict("the sale is paused; try again shortly").with_code("paused")
            return None
        if phase is Phase.CLOSED:
            return Closed() if fresh else _CLOSED
        return NotOpen() if fresh else _NOT_OPEN

    def refusal(self, sku: str, now: datetime, *, fresh: bool = True) -> DomainError | None:
        """Not open, closed, paused or sold out: answered from memory before anything else
        (the gate's token checks included), as most requests are once a batch is gone.
        Returned, not raised: most answers on the hot path are these, and raising one
        through the engine's coroutine cost more than the check itself. `fresh=False`:
        a shared instance, for an answer that is only rendered (never raise it)."""
        error = self._phase_refusal(now, fresh)
        if error is not None:
            return error
        stock = self.stock.get(sku)
        if stock is not None and stock.available == 0 and not self.launch.is_draw:
            return SoldOut(field="sku") if fresh else _SOLD_OUT
        return None

    def decide(
        self,
        fan_id: str,
        sku: str,
        quantity: int,
        code: PriorityCode | None,
        now: datetime,
        *,
        drawn: bool = False,
    ) -> None:
        """Allocate `quantity` units of `sku` to the fan, or raise why not. Atomic: all
        checks and the allocation run without yielding to the event loop."""
        self.check_open(now)
        stock = self.stock.get(sku)
        if stock is None:
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        limit = self.launch.rules.per_fan_limit
        if quantity > limit:
            raise LimitReached(f"at most {limit} per fan in this launch", field="quantity")
        if code is None and not drawn:
            if self.launch.is_draw:
                raise Conflict(
                    "this launch sells by draw: winners get their claim when it is drawn"
                ).with_code("draw_only")
            if stock.available == 0:
                raise SoldOut(field="sku")
            if self.launch.rules.reservation_required and fan_id not in self.reservations:
                raise ReservationRequired()
        held = self.fan_units.get(fan_id, 0)
        if held + quantity > limit:
            raise LimitReached(f"you already hold {held} of the {limit} allowed per fan")
        if code is not None and code.sku != sku:  # an any-SKU code used for another SKU
            if not stock.take_open(quantity):
                raise SoldOut(f"{sku} is sold out; this code can still buy {code.sku}", field="sku")
            self.stock[code.sku].set_aside -= 1  # its unit goes back to the open pool
            code.sku = sku  # and the code now stands for the unit it took
        elif code is not None:
            if not stock.take_set_aside():
                raise AssertionError("a live priority code without a set-aside unit")
        elif not stock.take_open(quantity):
            raise InsufficientStock(f"only {stock.available} left", field="quantity")
        self.fan_units[fan_id] = held + quantity
        self.count(None, ClaimState.HELD)

    def code_for(
        self, priority_code: str | None, sku: str, quantity: int, now: datetime
    ) -> PriorityCode | None:
        """The live priority code a claim redeems, or None; refused if it cannot be used."""
        if priority_code is None:
            return None
        code = self.codes.get(priority_code)
        if code is None:
            raise InvalidInput(
                "no such priority code for this launch", field="priority_code", code="invalid_code"
            )
        if code.is_spent:
            raise Conflict("this priority code was already used", field="priority_code").with_code(
                "code_spent"
            )
        if code.is_expired(now):
            raise Conflict("this priority code has expired", field="priority_code").with_code(
                "code_expired"
            )
        if code.sku != sku and not code.any_sku:
            raise InvalidInput(
                f"this code is for SKU {code.sku!r}", field="sku", code="code_for_other_sku"
            )
        if sku not in self.stock:
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        if quantity != 1:
            raise InvalidInput("a priority code buys exactly one unit", field="quantity")
        if code.sku != sku and self.launch.is_draw:
            # an any-SKU code buys its own set-aside unit: another SKU's units are the
            # draw's (a winner's, a backup's, or nobody's in this launch)
            raise Conflict(
                f"this launch sells by draw: this priority code buys only its own unit, of"
                f" SKU {code.sku!r}",
                field="sku",
            ).with_code("draw_only")
        return code

    def restore_code(self, code: PriorityCode, now: datetime) -> None:
        """Count a code read back from the record: a live one keeps its unit aside."""
        self.codes[code.code] = code
        if code.holds_unit(now):
            self.stock[code.sku].set_aside += 1
        elif not code.is_spent:
            self.expired_codes.add(code.code)

    def expire_code(self, code: PriorityCode, now: datetime) -> bool:
        """An unredeemed code reached its expiry: its unit goes back on sale, once."""
        if not code.is_expired(now) or code.code in self.expired_codes:
            return False
        self.expired_codes.add(code.code)
        self.stock[code.sku].set_aside -= 1
        return True

    def restore(self, claim: Claim) -> None:
        """Count a claim read back from the record (on start)."""
        self.count(None, claim.state)
        if claim.state in (ClaimState.HELD, ClaimState.PAID):
            stock = self.stock[claim.sku]
            stock.held += claim.quantity
            if claim.state is ClaimState.PAID:
                stock.settle(claim.quantity)
            self.fan_units[claim.fan_id] = self.fan_units.get(claim.fan_id, 0) + claim.quantity

    @property
    def reservation_count(self) -> int:
        return self.reservations_archived if self.summary else len(self.reservations)

    def summarise(self, state: ClaimState, sku: str, claims: int, units: int) -> None:
        """Count an archived launch's claims from the store's tally (`summary`): the SKU's
        units held and paid, and the claims per state, with no claim read."""
        self.claim_states[state] = self.claim_states.get(state, 0) + claims
        stock = self.stock.get(sku)
        if stock is None or state not in (ClaimState.HELD, ClaimState.PAID):
            return
        stock.held += units
        if state is ClaimState.PAID:
            stock.settle(units)

    def count(self, before: ClaimState | None, after: ClaimState) -> None:
        """Keep the per-state claim counts for stats without scanning claims."""
        if before is not None:
            self.claim_states[before] -= 1
        self.claim_states[after] = self.claim_states.get(after, 0) + 1

    def undo(self, claim: Claim, *, spent_code: bool) -> None:
        """Reverse `decide` for a claim whose write failed."""
        stock = self.stock[claim.sku]
        if spent_code:
            stock.unhold_set_aside()
        else:
            stock.release(claim.quantity)
        self._uncount(claim)
        self.claim_states[ClaimState.HELD] -= 1

    def give_back(self, claim: Claim) -> None:
        """Return a released claim's units to the open pool and the fan's allowance."""
        self.stock[claim.sku].release(claim.quantity)
        self._uncount(claim)

    def give_back_paid(self, claim: Claim) -> None:
        """A paid claim's order was refunded before shipping: the units go back on sale."""
        self.stock[claim.sku].unsell(claim.quantity)
        self._uncount(claim)

    def _uncount(self, claim: Claim) -> None:
        if self.summary:
            return  # no fan's units are counted in an archived launch's book
        left = self.fan_units[claim.fan_id] - claim.quantity
        if left:
            self.fan_units[claim.fan_id] = left
        else:
            del self.fan_units[claim.fan_id]
