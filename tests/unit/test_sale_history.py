"""A launch's curve from the record (the live dashboard's history): units held and sold
at each moment as the book counts them, claims per second, bounded in size, and where it
ends; and what a refund does with an order's unit, as the admin's refund form says it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soldout.clock import FakeClock
from soldout.domain.claims import Claim, ClaimState, Order
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges
from soldout.services.order_records import UnitFate, unit_fate
from soldout.services.sale_history import MAX_POINTS, launch_curve, sale_curve, step_for
from tests.unit.conftest import open_launch

OPENS = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return OPENS + timedelta(seconds=seconds)


def claim(
    n: int,
    made: float,
    state: ClaimState,
    closed: float | None = None,
    sku: str = "A",
    quantity: int = 1,
) -> Claim:
    return Claim(
        id=f"clm_{n}",
        launch_id="lch_1",
        fan_id=f"fan_{n}",
        sku=sku,
        quantity=quantity,
        unit_price=1000,
        currency="EUR",
        created_at=at(made),
        expires_at=at(made + 900),
        idempotency_key=f"k{n}",
        state=state,
        closed_at=at(closed) if closed is not None else None,
    )


def test_the_curve_counts_units_as_the_book_does_at_each_moment() -> None:
    claims = [
        claim(1, 2, ClaimState.PAID, closed=5, quantity=2),  # held 2..5, sold from 5
        claim(2, 3, ClaimState.EXPIRED, closed=8),  # held 3..8, then back
        claim(3, 4, ClaimState.CANCELLED, closed=9, sku="B"),  # paid at 6, refunded at 9
        claim(4, 7, ClaimState.HELD),  # still held
        claim(5, 7, ClaimState.PAID, closed=7.5, sku="B"),  # paid; refunded after shipping
    ]
    paid = {"clm_1": at(5), "clm_3": at(6), "clm_5": at(7.5)}

    curve = sale_curve(claims, lambda c: paid.get(c.id), OPENS, at(10), ["A", "B"])

    assert curve.step_seconds == 1
    rows = [
        (p.claims, p.held, p.sold, p.sold_by_sku["A"], p.sold_by_sku["B"]) for p in curve.points
    ]
    assert rows == [
        (0, 0, 0, 0, 0),  # 12:00:00, the opening
        (0, 0, 0, 0, 0),
        (1, 2, 0, 0, 0),  # 2 s: claim 1 holds two units
        (2, 3, 0, 0, 0),
        (3, 4, 0, 0, 0),
        (3, 2, 2, 2, 0),  # 5 s: claim 1 paid
        (3, 1, 3, 2, 1),  # 6 s: claim 3 paid
        (5, 3, 3, 2, 1),  # 7 s: claims 4 and 5
        (5, 1, 4, 2, 2),  # 8 s: claim 2 expired, claim 5 paid (7.5 s)
        (5, 1, 3, 2, 1),  # 9 s: claim 3's order refunded before shipping: unit freed
        (5, 1, 3, 2, 1),  # 10 s: now
    ]
    assert [p.at for p in curve.points] == [at(s) for s in range(11)]
    assert [p.claims_per_second for p in curve.points][:4] == [0.0, 0.0, 1.0, 1.0]
    assert curve.points[7].claims_per_second == 2.0


def test_a_long_sale_is_drawn_in_at_most_max_points_of_a_readable_width() -> None:
    claims = [claim(n, n * 97.0, ClaimState.PAID, closed=n * 97.0 + 30) for n in range(2000)]
    three_days = at(3 * 86400 + 17)

    curve = sale_curve(claims, lambda c: c.closed_at, OPENS, three_days, ["A"])

    assert len(curve.points) <= MAX_POINTS
    assert curve.step_seconds == 1800  # half-hours: 145 points for three days
    assert curve.points[0].at == OPENS
    assert curve.points[-1].at == three_days  # and the very moment asked for
    assert curve.points[-1].sold == 2000
    assert curve.points[-1].claims == 2000
    assert [step_for(s) for s in (100, 239, 240, 1000, 86400, 10 * 86400, 400 * 86400)] == [
        1,
        1,
        2,
        5,
        600,
        7200,
        2 * 86400,
    ]


def test_before_the_opening_the_curve_is_empty_and_a_draw_starts_at_its_first_claim() -> None:
    assert list(sale_curve([], lambda c: None, OPENS, at(-5), ["A"]).points) == []
    early = [claim(1, -30, ClaimState.HELD)]  # a draw's winners are held when it is drawn
    curve = sale_curve(early, lambda c: None, OPENS, at(0), ["A"])
    assert curve.points[0].at == at(-30)
    assert curve.points[-1].held == 1


async def test_the_launch_curve_ends_at_the_present_while_on_sale_and_stays_after(
    platform: Platform, clock: FakeClock
) -> None:
    book = await open_launch(platform, {"A": 5}, per_fan_limit=1)
    opened = book.launch.sale_opens_at
    for n in range(3):
        clock.advance(40)
        made = await platform.engine.claim(f"fan_{n}", book.launch.id, "A", 1, f"k{n}")
        await platform.engine.pay(f"fan_{n}", made.claim.id, "test", "tok_ok", f"p{n}")
    clock.advance(100)

    live = await launch_curve(platform.engine, book.launch.id)

    assert (live.points[0].at, live.points[-1].at) == (opened, clock.now())
    assert [
        p.sold
        for p in live.points
        if p.at in (opened + timedelta(seconds=s) for s in (41, 81, 121))
    ] == [1, 2, 3]
    assert live.points[-1].sold == sum(s.paid for s in book.stock.values())

    # closed: the curve stops just after its last change, however long ago that was
    await platform.catalog.change_launch(book.launch.id, LaunchChanges(sale_closes_at=clock.now()))
    clock.advance(7 * 86400)
    over = await launch_curve(platform.engine, book.launch.id)
    last_change = opened + timedelta(seconds=121)
    assert over.points[-1].at == last_change + timedelta(seconds=1)
    assert over.step_seconds == 1
    assert over.points[-1].sold == 3


async def test_a_refund_says_where_the_unit_goes(platform: Platform, clock: FakeClock) -> None:
    book = await open_launch(platform, {"A": 5})
    made = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k1")
    outcome = await platform.engine.pay("fan_1", made.claim.id, "test", "tok_ok", "p1")
    order = outcome.order
    assert isinstance(order, Order)
    launch_id = book.launch.id

    assert unit_fate(order, book, clock.now()) is UnitFate.ON_SALE
    await platform.catalog.change_launch(launch_id, LaunchChanges(paused=True))
    assert unit_fate(order, book, clock.now()) is UnitFate.ON_SALE_WHEN_RESUMED
    await platform.catalog.change_launch(launch_id, LaunchChanges(paused=False))
    await platform.catalog.change_launch(launch_id, LaunchChanges(sale_closes_at=clock.now()))
    clock.advance(1)
    assert unit_fate(order, book, clock.now()) is UnitFate.BACK_IN_STOCK
    order.shipped_at = clock.now()  # shipped: whatever the launch, the fan keeps it
    assert unit_fate(order, book, clock.now()) is UnitFate.KEPT
