"""Units over time from the server's record: how many were held and paid at each moment,
and when the launch sold out. Times are seconds since the sale opened.

    points = units_over_time(claims, orders, opens_at)
    sell_out_moment(open_capacity(skus, claims), units_over_time(open_claims(claims), ...))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from soldout.reports.records import ClaimRecord, OrderRecord, SkuCounts

__all__ = [
    "UnitsPoint",
    "open_capacity",
    "open_claims",
    "seconds_since",
    "sell_out_moment",
    "units_over_time",
]

_OCCUPYING = ("held", "paid")


@dataclass(frozen=True, slots=True)
class UnitsPoint:
    """Units held and paid from `at` until the next point."""

    at: float
    held: int
    paid: int

    @property
    def taken(self) -> int:
        return self.held + self.paid


def seconds_since(origin: datetime, moment: datetime) -> float:
    return (moment - origin).total_seconds()


def units_over_time(
    claims: Iterable[ClaimRecord], orders: Mapping[str, OrderRecord], opens_at: datetime
) -> list[UnitsPoint]:
    """One point per moment something changed, in time order, starting at the first claim.

    A claim holds its units from `created_at`; they become paid when its order was paid
    (`paid_at`, or the claim's `closed_at` if the order is not in `orders`) and go back at
    `closed_at` if the claim expired or was cancelled (an order refunded before shipping).
    """
    changes: dict[float, list[int]] = {}
    for claim in claims:
        for moment, held, paid in _life(claim, orders):
            delta = changes.setdefault(seconds_since(opens_at, moment), [0, 0])
            delta[0] += held
            delta[1] += paid
    points: list[UnitsPoint] = []
    held = paid = 0
    for at in sorted(changes):
        held += changes[at][0]
        paid += changes[at][1]
        points.append(UnitsPoint(at, held, paid))
    return points


def _life(claim: ClaimRecord, orders: Mapping[str, OrderRecord]) -> list[tuple[datetime, int, int]]:
    q = claim.quantity
    life = [(claim.created_at, q, 0)]
    order = orders.get(claim.order_id) if claim.order_id else None
    paid_at = order.paid_at if order else claim.closed_at if claim.state == "paid" else None
    if paid_at is not None:
        life.append((paid_at, -q, q))
        if claim.state == "cancelled" and claim.closed_at is not None:
            life.append((claim.closed_at, 0, -q))
    elif claim.state != "held" and claim.closed_at is not None:
        life.append((claim.closed_at, -q, 0))
    return life


def open_claims(claims: Iterable[ClaimRecord]) -> list[ClaimRecord]:
    """Claims on units open to everyone (a priority code draws on units set aside)."""
    return [c for c in claims if c.priority_code is None]


def open_capacity(skus: Iterable[SkuCounts], claims: Iterable[ClaimRecord]) -> int:
    """Units ever open to everyone: those available now plus those open claims hold now."""
    taken = sum(c.quantity for c in open_claims(claims) if c.state in _OCCUPYING)
    return sum(s.available for s in skus) + taken


def sell_out_moment(capacity: int, points: Sequence[UnitsPoint]) -> float | None:
    """The first moment no open unit was left (held + paid reached `capacity`), or None if
    that never happened (or nothing was ever open)."""
    if capacity <= 0:
        return None
    for point in points:
        if point.taken >= capacity:
            return point.at
    return None
