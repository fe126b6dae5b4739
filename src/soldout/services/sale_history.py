"""A launch's sale over time, from the record the engine holds: claims made, units held
and units sold (in total and per SKU) from the moment the sale opened, in at most
`MAX_POINTS` evenly spaced points, so a dashboard opened mid-sale (or after it) draws the
whole curve at once, whatever the number of claims.

    curve = sale_curve(claims, paid_at, opens_at, end, skus)
    curve.points[-1].sold       # units paid at `end`, as the launch's book counts them

Units follow the book: a claim holds its units from its creation until it is paid (its
order's `paid_at`), expires or is cancelled (`closed_at`); paid units count as sold until
the order is refunded (before shipping the claim is then cancelled and the unit freed;
after shipping the unit stays out of stock but is no sale: `LaunchBook.sold`).

Each change lands in the bucket of the first point at or after it (arithmetic, no sort),
so a curve costs one pass over the claims: about 2 us a claim (`launch_curve` lets the
sale go on every `CHUNK` claims).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.launches import Status
from soldout.engine import SaleEngine

__all__ = [
    "MAX_POINTS",
    "CurveBuilder",
    "CurvePoint",
    "SaleCurve",
    "launch_curve",
    "sale_curve",
    "step_for",
]

MAX_POINTS = 240  # enough for a smooth line on a wide screen; ~25 KB of JSON at most
CHUNK = 2_000  # claims read between two turns of the event loop (~4 ms)
# Bucket widths in seconds people read at a glance; past the last, whole days.
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """The sale at `at`: counts since the opening, units held and sold at that moment, and
    claims per second over the bucket that ends here."""

    at: datetime
    claims: int
    claims_per_second: float
    held: int
    sold: int
    sold_by_sku: dict[str, int]


@dataclass(frozen=True, slots=True)
class SaleCurve:
    step_seconds: int
    points: Sequence[CurvePoint]

    def as_json(self) -> dict[str, object]:
        """The shape of the live dashboard's snapshots (`at`, `sold`, `held`, ..., and per
        SKU `skus[code].sold`), so one drawing routine handles both."""
        return {
            "step_seconds": self.step_seconds,
            "points": [
                {
                    "at": p.at.isoformat(),
                    "claims": p.claims,
                    "claims_per_second": p.claims_per_second,
                    "held": p.held,
                    "sold": p.sold,
                    "skus": {code: {"sold": n} for code, n in p.sold_by_sku.items()},
                }
                for p in self.points
            ],
        }


def step_for(span_seconds: float, max_points: int = MAX_POINTS) -> int:
    """The narrowest readable bucket that covers `span_seconds` in at most `max_points`."""
    for step in _STEPS:
        if span_seconds / step <= max_points - 1:
            return step
    return 86400 * math.ceil(span_seconds / 86400 / (max_points - 1))


class CurveBuilder:
    """Points every `step` seconds from `start`, and one at `end`; `add` each claim once."""

    def __init__(
        self, start: datetime, end: datetime, skus: Sequence[str], max_points: int = MAX_POINTS
    ) -> None:
        span = max((end - start).total_seconds(), 0.0)
        self.step = step_for(span, max_points) if span > 0 else 1
        self._start, self._end = start, end
        self._step = timedelta(seconds=self.step)
        count = int(span // self.step) + 1 if span > 0 else 0
        self.moments = [start + timedelta(seconds=self.step * k) for k in range(count)]
        if span > 0 and self.moments[-1] < end:
            self.moments.append(end)
        size = len(self.moments)
        self._claims = [0] * size
        self._held = [0] * size
        self._sold = {code: [0] * size for code in skus}

    def _bucket(self, moment: datetime) -> int | None:
        """The first point at or after `moment`, or None past the end."""
        if moment > self._end or not self.moments:
            return None
        k = max(-((self._start - moment) // self._step), 0)  # ceil, exact (microseconds)
        return min(k, len(self.moments) - 1)

    def add(self, claim: Claim, paid_at: datetime | None) -> None:
        q = claim.quantity
        made = self._bucket(claim.created_at)
        if made is None:
            return
        self._claims[made] += 1
        self._held[made] += q
        sold = self._sold.get(claim.sku)
        if sold is None:
            sold = self._sold[claim.sku] = [0] * len(self.moments)
        closed = claim.closed_at
        if paid_at is not None:
            paid = self._bucket(paid_at)
            if paid is None:
                return
            self._held[paid] -= q
            sold[paid] += q
            if claim.state is ClaimState.CANCELLED and closed is not None:  # refunded
                freed = self._bucket(closed)
                if freed is not None:
                    sold[freed] -= q
        elif claim.state is not ClaimState.HELD and closed is not None:  # expired, cancelled
            freed = self._bucket(closed)
            if freed is not None:
                self._held[freed] -= q

    def returned(self, sku: str, at: datetime, quantity: int) -> None:
        """Units of `sku` refunded at `at` after they shipped: sold no longer."""
        back = self._bucket(at)
        if back is not None and sku in self._sold:
            self._sold[sku][back] -= quantity

    def curve(self) -> SaleCurve:
        points: list[CurvePoint] = []
        made = held = 0
        by_sku = dict.fromkeys(self._sold, 0)
        before = self._start
        for k, at in enumerate(self.moments):
            made += self._claims[k]
            held += self._held[k]
            for code, deltas in self._sold.items():
                by_sku[code] += deltas[k]
            seconds = (at - before).total_seconds()
            rate = round(self._claims[k] / seconds, 1) if seconds > 0 else 0.0
            points.append(CurvePoint(at, made, rate, held, sum(by_sku.values()), dict(by_sku)))
            before = at
        return SaleCurve(self.step, points)


def _start(opens_at: datetime, claims: Sequence[Claim]) -> datetime:
    first = min((c.created_at for c in claims), default=opens_at)
    return min(opens_at, first)  # a draw holds its winners' units when it is drawn


def sale_curve(
    claims: Iterable[Claim],
    paid_at: Callable[[Claim], datetime | None],
    opens_at: datetime,
    end: datetime,
    skus: Sequence[str],
    max_points: int = MAX_POINTS,
) -> SaleCurve:
    """The curve from `opens_at` (or the first claim, if earlier) to `end`: points every
    `step_seconds` from the start, and one at `end` itself. Empty before the opening.
    `paid_at(claim)` is when the claim's order was paid (None: never)."""
    listed = list(claims)
    builder = CurveBuilder(_start(opens_at, listed), end, skus, max_points)
    for claim in listed:
        builder.add(claim, paid_at(claim))
    return builder.curve()


async def launch_curve(
    engine: SaleEngine, launch_id: str, max_points: int = MAX_POINTS
) -> SaleCurve:
    """The curve of one launch until now while its sale can still move (on sale, paused,
    sold out), or until just after its last change once it is over (closed, cancelled): a
    sale of thirty seconds looked at a week later is still drawn in seconds, not hours."""
    book = engine.book(launch_id)
    now = engine.now()
    claims = await engine.claims_of_launch(launch_id)
    orders: dict[str, Order] = {o.claim_id: o for o in await engine.orders_of_launch(launch_id)}
    returned = [  # (sku, when, units) refunded after they shipped
        (o.sku, o.refunded_at, o.quantity)
        for o in orders.values()
        if o.shipped_at is not None and o.refunded_at is not None
    ]

    def paid_at(claim: Claim) -> datetime | None:
        order = orders.get(claim.id)
        if order is not None:
            return order.paid_at
        return claim.closed_at if claim.state is ClaimState.PAID else None

    end = now
    live = (Status.ON_SALE, Status.PAUSED, Status.SOLD_OUT)
    if book.status(now) not in live or book.launch.cancelled_at is not None:
        moments = [c.created_at for c in claims] + [c.closed_at for c in claims if c.closed_at]
        moments += [o.paid_at for o in orders.values()] + [at for _, at, _ in returned]
        last = max(moments, default=book.launch.sale_opens_at)
        end = min(now, last + timedelta(seconds=1))  # and the state just after it
    builder = CurveBuilder(
        _start(book.launch.sale_opens_at, claims), end, list(book.stock), max_points
    )
    for n, claim in enumerate(claims, start=1):
        builder.add(claim, paid_at(claim))
        if n % CHUNK == 0:
            await asyncio.sleep(0)  # the sale goes on while a big launch is read
    for sku, at, units in returned:
        builder.returned(sku, at, units)
    return builder.curve()
