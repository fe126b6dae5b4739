"""Units held and paid over time and the sell-out moment, from hand-made claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soldout.reports.records import ClaimRecord, OrderRecord, SkuCounts
from soldout.reports.timeline import (
    UnitsPoint,
    open_capacity,
    open_claims,
    sell_out_moment,
    units_over_time,
)

OPENS = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return OPENS + timedelta(seconds=seconds)


def claim(
    id: str,
    created: float,
    state: str,
    closed: float | None = None,
    quantity: int = 1,
    order: str | None = None,
    code: str | None = None,
) -> ClaimRecord:
    closed_at = at(closed) if closed is not None else None
    return ClaimRecord(id, f"fan-{id}", "A", quantity, state, at(created), closed_at, order, code)


def order(id: str, claim_id: str, paid: float) -> OrderRecord:
    return OrderRecord(id, claim_id, "A", 1, 1000, "EUR", "paid", at(paid), None)


# c1 paid at +3; c2 (two units) expired at +5; c3 still held; c4 paid at +6 and refunded
# before shipping at +8 (its claim cancelled then).
CLAIMS = [
    claim("c1", 1, "paid", closed=3, order="o1"),
    claim("c2", 2, "expired", closed=5, quantity=2),
    claim("c3", 2, "held"),
    claim("c4", 4, "cancelled", closed=8, order="o4"),
]
ORDERS = {"o1": order("o1", "c1", 3), "o4": order("o4", "c4", 6)}

EXPECTED = [
    UnitsPoint(1, 1, 0),
    UnitsPoint(2, 4, 0),
    UnitsPoint(3, 3, 1),
    UnitsPoint(4, 4, 1),
    UnitsPoint(5, 2, 1),
    UnitsPoint(6, 1, 2),
    UnitsPoint(8, 1, 1),
]


def test_units_held_and_paid_at_every_change() -> None:
    assert units_over_time(CLAIMS, ORDERS, OPENS) == EXPECTED


def test_a_paid_claim_without_its_order_is_paid_at_its_closing() -> None:
    points = units_over_time([claim("c1", 1, "paid", closed=3, order="o1")], {}, OPENS)
    assert points == [UnitsPoint(1, 1, 0), UnitsPoint(3, 0, 1)]


def test_claims_before_opening_have_negative_times() -> None:
    assert units_over_time([claim("c", -2, "held")], {}, OPENS) == [UnitsPoint(-2, 1, 0)]


def test_sell_out_is_the_first_moment_all_open_units_are_taken() -> None:
    assert sell_out_moment(5, EXPECTED) == 4  # 4 held + 1 paid at +4
    assert sell_out_moment(4, EXPECTED) == 2  # 4 held at +2
    assert sell_out_moment(6, EXPECTED) is None  # never more than 5 at once
    assert sell_out_moment(0, EXPECTED) is None  # nothing was ever open
    assert sell_out_moment(3, []) is None


def test_open_capacity_is_what_is_available_plus_what_open_claims_hold_now() -> None:
    # Now: c1 paid and c3 held hold 2 units; 3 are still available.
    skus = [SkuCounts("A", batch=6, available=3, set_aside=1, held=1, paid=1)]
    assert open_capacity(skus, CLAIMS) == 5


def test_claims_with_a_priority_code_do_not_take_open_units() -> None:
    coded = claim("c5", 0.5, "paid", closed=1, code="PRIO-1")
    assert open_claims([*CLAIMS, coded]) == CLAIMS
    skus = [SkuCounts("A", batch=6, available=3, set_aside=0, held=1, paid=2)]
    assert open_capacity(skus, [*CLAIMS, coded]) == 5
