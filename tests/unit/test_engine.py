"""The sale engine on the in-memory store, with a clock the tests move."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import ClaimState
from soldout.domain.launches import LaunchRules, Status
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.ids import new_id
from soldout.payments import Authorization, PaymentRequest, TestPayments
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.conftest import open_launch


async def test_a_retry_with_the_same_key_returns_the_first_claim(platform: Platform) -> None:
    book = await open_launch(platform)
    first = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    again = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    assert again.claim is first.claim
    assert (first.replayed, again.replayed) == (False, True)
    assert book.stock["A"].held == 1


async def test_a_key_reused_for_another_request_is_refused(platform: Platform) -> None:
    book = await open_launch(platform)
    await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    with pytest.raises(errors.IdempotencyKeyReused):
        await platform.engine.claim("fan_1", book.launch.id, "B", 1, "k")


async def test_the_replay_of_the_last_unit_is_not_sold_out(platform: Platform) -> None:
    book = await open_launch(platform, batch={"A": 1})
    first = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    assert book.status(platform.clock.now()) is Status.SOLD_OUT
    again = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    assert again.claim.id == first.claim.id


async def test_sold_out_then_back_on_sale_when_a_hold_is_released(platform: Platform) -> None:
    book = await open_launch(platform, batch={"A": 2})
    launch_id = book.launch.id
    a = await platform.engine.claim("fan_a", launch_id, "A", 1, "ka")
    await platform.engine.claim("fan_b", launch_id, "A", 1, "kb")
    with pytest.raises(errors.SoldOut):
        await platform.engine.claim("fan_c", launch_id, "A", 1, "kc")
    assert book.status(platform.clock.now()) is Status.SOLD_OUT
    await platform.engine.cancel("fan_a", a.claim.id)
    assert book.status(platform.clock.now()) is Status.ON_SALE
    c = await platform.engine.claim("fan_c", launch_id, "A", 1, "kc2")
    assert c.claim.state is ClaimState.HELD


async def test_the_hot_paths_refusals_are_shared_and_a_raised_one_is_its_own(
    platform: Platform,
) -> None:
    """The hot path renders the same sold-out refusal for every fan (made once); the
    claim that raises one raises a new one, so no traceback piles up on a shared one."""
    book = await open_launch(platform, batch={"A": 1})
    launch_id = book.launch.id
    await platform.engine.claim("fan_a", launch_id, "A", 1, "ka")
    first = platform.engine.refusal("fan_b", launch_id, "A", "kb", with_code=False)
    second = platform.engine.refusal("fan_c", launch_id, "A", "kc", with_code=False)
    assert isinstance(first, errors.SoldOut)
    assert first is second
    with pytest.raises(errors.SoldOut) as raised:
        await platform.engine.claim("fan_b", launch_id, "A", 1, "kb")
    assert raised.value is not first
    assert first.__traceback__ is None


async def test_the_per_fan_limit_holds_across_skus(platform: Platform) -> None:
    book = await open_launch(platform, batch={"A": 5, "B": 5}, per_fan_limit=2)
    await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k1")
    await platform.engine.claim("fan_1", book.launch.id, "B", 1, "k2")
    with pytest.raises(errors.LimitReached):
        await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k3")
    with pytest.raises(errors.LimitReached) as too_many:
        await platform.engine.claim("fan_2", book.launch.id, "A", 3, "k4")
    assert too_many.value.field == "quantity"


async def test_a_reservation_is_required_when_the_rule_says_so(
    platform: Platform, clock: FakeClock
) -> None:
    book = await open_launch(platform, reservation_required=True)
    launch_id = book.launch.id
    opens = clock.now() + timedelta(minutes=5)
    await platform.catalog.change_launch(
        launch_id, LaunchChanges(sale_opens_at=opens, reservations_open_at=clock.now())
    )
    await platform.engine.reservations.reserve(launch_id, "fan_1")
    _, created = await platform.engine.reservations.reserve(launch_id, "fan_1")
    assert not created
    clock.set(opens)
    with pytest.raises(errors.ReservationRequired):
        await platform.engine.claim("fan_2", launch_id, "A", 1, "k")
    assert (await platform.engine.claim("fan_1", launch_id, "A", 1, "k")).claim.is_held
    with pytest.raises(errors.Conflict) as late:
        await platform.engine.reservations.reserve(launch_id, "fan_2")
    assert late.value.code == "reservations_closed"


async def test_not_open_before_and_closed_after_the_window(
    platform: Platform, clock: FakeClock
) -> None:
    book = await open_launch(platform)
    launch_id = book.launch.id
    await platform.catalog.change_launch(
        launch_id,
        LaunchChanges(
            sale_opens_at=clock.now() + timedelta(minutes=1),
            sale_closes_at=clock.now() + timedelta(minutes=2),
        ),
    )
    with pytest.raises(errors.NotOpen):
        await platform.engine.claim("fan_1", launch_id, "A", 1, "k1")
    clock.advance(150)
    with pytest.raises(errors.Closed):
        await platform.engine.claim("fan_1", launch_id, "A", 1, "k2")


async def test_expiry_releases_a_unit_exactly_once(platform: Platform, clock: FakeClock) -> None:
    book = await open_launch(platform, batch={"A": 1}, payment_window_seconds=60)
    outcome = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    clock.advance(59)
    assert await platform.engine.expire_due() == 0
    clock.advance(1)
    assert await platform.engine.expire_due() == 1
    assert await platform.engine.expire_due() == 0
    with pytest.raises(errors.ClaimExpired):
        await platform.engine.cancel("fan_1", outcome.claim.id)
    stock = book.stock["A"]
    assert (stock.available, stock.held) == (1, 0)
    assert book.fan_units == {}
    stored = platform.store.claims.rows[outcome.claim.id]  # type: ignore[attr-defined]
    assert stored.state is ClaimState.EXPIRED


async def test_paying_after_the_window_is_refused_and_sells_nothing(
    platform: Platform, clock: FakeClock
) -> None:
    book = await open_launch(platform, payment_window_seconds=60)
    outcome = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    clock.advance(60)
    with pytest.raises(errors.ClaimExpired):
        await platform.engine.pay("fan_1", outcome.claim.id, "test", "tok", "p")
    assert (book.stock["A"].paid, book.stock["A"].held, book.stock["A"].available) == (0, 0, 5)


class GatedPayments(TestPayments):
    """A provider whose authorization waits at a gate: lets a test expire the claim
    mid-payment."""

    def __init__(self) -> None:
        super().__init__(secret=b"gated")
        self.charging = asyncio.Event()
        self.gate = asyncio.Event()

    async def authorize(self, request: PaymentRequest) -> Authorization:
        answer = await super().authorize(request)
        self.charging.set()
        await self.gate.wait()
        return answer


async def test_a_payment_that_lands_after_expiry_is_refunded(clock: FakeClock) -> None:
    payments = GatedPayments()
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "a"), clock, payments)
    await platform.start(sweep=False)
    book = await open_launch(platform, batch={"A": 1}, payment_window_seconds=60)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    paying = asyncio.create_task(platform.engine.pay("fan_1", claim.id, "test", "tok", "p"))
    await payments.charging.wait()
    clock.advance(61)
    assert await platform.engine.expire_due() == 1
    other = await platform.engine.claim("fan_2", book.launch.id, "A", 1, "k2")  # unit resold
    payments.gate.set()
    with pytest.raises(errors.ClaimExpired):
        await paying
    [line] = await payments.transactions()
    assert line.status == "voided"  # authorized, never captured: the hold is released
    assert platform.engine.order_for(claim.id) is None
    stock = book.stock["A"]
    assert (stock.held, stock.paid) == (1, 0)
    assert other.claim.is_held


async def test_a_declined_payment_leaves_the_claim_held(platform: Platform) -> None:
    book = await open_launch(platform)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    with pytest.raises(errors.PaymentDeclined):
        await platform.engine.pay("fan_1", claim.id, "test", "tok_decline", "p1")
    order = (await platform.engine.pay("fan_1", claim.id, "test", "tok_ok", "p2")).order
    assert order.total == 1000
    assert (book.stock["A"].held, book.stock["A"].paid) == (0, 1)


async def test_a_unit_priced_0_before_prices_had_to_be_more_is_refused_in_words(
    platform: Platform,
) -> None:
    """A store may hold a SKU priced 0 from before the rule: paying for it is a 422 that
    says why, and leaves the claim held and no payment behind (it was a 500)."""
    free = Sku("F", "Free sticker", Money(0, "EUR"), Money(0, "EUR"))
    product = Product(new_id("prd"), "Stickers", "", (free,), platform.clock.now())
    await platform.store.products.add(product)
    now = platform.clock.now()
    book = await platform.catalog.create_launch(
        product_id=product.id,
        title="t",
        sale_opens_at=now - timedelta(seconds=1),
        rules=LaunchRules(),
        batch={"F": 5},
    )
    claim = (await platform.engine.claim("fan_1", book.launch.id, "F", 1, "k")).claim
    with pytest.raises(errors.InvalidInput) as refused:
        await platform.engine.pay("fan_1", claim.id, "test", "tok_ok", "p")
    assert refused.value.code == "nothing_to_pay"
    assert "price is 0" in str(refused.value)
    assert claim.is_held
    assert list(await platform.store.payments.of_claims([claim.id])) == []
    with pytest.raises(errors.InvalidInput, match="more than 0"):
        await platform.catalog.create_product("Stickers", "", [free])


async def test_an_order_without_a_ship_date_yet_is_confirmed_in_a_whole_sentence(
    platform: Platform,
) -> None:
    book = await open_launch(platform)  # no production plan: no date yet
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    order = (await platform.engine.pay("fan_1", claim.id, "test", "tok_ok", "p")).order
    assert order.ship_date is None
    [note] = await platform.fans.notifications("fan_1", 10)
    assert note.message == f"Order {order.id} is paid and confirmed; its ship date will follow."


async def test_payment_is_idempotent(platform: Platform) -> None:
    book = await open_launch(platform)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    first = await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    again = await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    assert again.order == first.order
    assert again.replayed
    with pytest.raises(errors.AlreadyPaid):
        await platform.engine.pay("fan_1", claim.id, "test", "tok", "other-key")
    assert book.stock["A"].paid == 1


async def test_another_fans_claim_is_not_found(platform: Platform) -> None:
    book = await open_launch(platform)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    with pytest.raises(errors.NotFound):
        await platform.engine.pay("fan_2", claim.id, "test", "tok", "p")
    with pytest.raises(errors.NotFound):
        await platform.engine.cancel("fan_2", claim.id)


async def test_priority_codes_take_set_aside_units_once(
    platform: Platform, clock: FakeClock
) -> None:
    book = await open_launch(platform, batch={"A": 2}, payment_window_seconds=60)
    launch_id = book.launch.id
    [code] = await platform.catalog.issue_codes(launch_id, "A", 1)
    await platform.engine.claim("fan_1", launch_id, "A", 1, "k1")
    with pytest.raises(errors.SoldOut):
        await platform.engine.claim("fan_2", launch_id, "A", 1, "k2")
    assert book.status(clock.now()) is Status.SOLD_OUT
    assert book.stock["A"].set_aside == 1
    coded = await platform.engine.claim("fan_2", launch_id, "A", 1, "k3", code.code)
    assert coded.claim.priority_code == code.code
    with pytest.raises(errors.Conflict) as spent:
        await platform.engine.claim("fan_3", launch_id, "A", 1, "k4", code.code)
    assert spent.value.code == "code_spent"
    clock.advance(60)
    await platform.engine.expire_due()
    assert book.stock["A"].available == 2  # an expired code claim's unit joins the open pool


async def test_codes_never_over_commit_the_batch(platform: Platform) -> None:
    book = await open_launch(platform, batch={"A": 3})
    await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    with pytest.raises(errors.Conflict) as short:
        await platform.catalog.issue_codes(book.launch.id, "A", 3)
    assert short.value.code == "insufficient_stock"
    assert book.stock["A"].set_aside == 0


async def test_cancelling_a_launch_releases_every_hold(platform: Platform) -> None:
    book = await open_launch(platform)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    await platform.catalog.change_launch(book.launch.id, LaunchChanges(cancel=True))
    assert claim.state is ClaimState.CANCELLED
    assert book.stock["A"].held == 0
    with pytest.raises(errors.Closed):
        await platform.engine.claim("fan_2", book.launch.id, "A", 1, "k2")


async def test_counters_are_rebuilt_from_the_record(platform: Platform, clock: FakeClock) -> None:
    book = await open_launch(platform, batch={"A": 5}, per_fan_limit=2)
    launch_id = book.launch.id
    await platform.catalog.issue_codes(launch_id, "A", 1)
    paid = (await platform.engine.claim("fan_1", launch_id, "A", 2, "k1")).claim
    await platform.engine.pay("fan_1", paid.id, "test", "tok", "p")
    await platform.engine.claim("fan_2", launch_id, "A", 1, "k2")
    store = platform.store.crash_copy()  # type: ignore[attr-defined]
    reborn = Platform(store, TokenSigner(b"k" * 32, "a"), clock)
    await reborn.start(sweep=False)
    again = reborn.engine.book(launch_id)
    assert again.stock == book.stock
    assert again.fan_units == book.fan_units
    replay = await reborn.engine.claim("fan_2", launch_id, "A", 1, "k2")
    assert replay.replayed
    with pytest.raises(errors.LimitReached):
        await reborn.engine.claim("fan_1", launch_id, "A", 1, "k3")


async def test_a_repeated_reservation_is_answered_once_the_first_is_durable(
    platform: Platform, clock: FakeClock
) -> None:
    book = await open_launch(platform)
    await platform.catalog.change_launch(
        book.launch.id, LaunchChanges(sale_opens_at=clock.now() + timedelta(minutes=5))
    )
    first, again = await asyncio.gather(
        platform.engine.reservations.reserve(book.launch.id, "fan_1"),
        platform.engine.reservations.reserve(book.launch.id, "fan_1"),
    )
    assert first[0] is again[0]
    assert (first[1], again[1]) == (True, False)
    assert len(await platform.store.reservations.all()) == 1
