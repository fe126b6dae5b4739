"""Payment races, forced rather than hoped for.

Each test pauses one step (the provider's authorize, capture or refund, or a webhook's
arrival), moves the clock, the sweeper, the warehouse or another request meanwhile, then
lets the step go on. Engine level: in-memory store, fake clock, the `test` provider.

Every test ends with `assert_consistent`: no SKU oversold; the paid units of a SKU are
exactly those of its live orders; an order has its unit (claim paid, or cancelled once
refunded before shipping); a captured payment has one live order, a refunded one none;
and the provider's ledger keeps money only for live orders.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState, Order, OrderStatus
from soldout.domain.money import Money
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.engine.book import LaunchBook
from soldout.engine.engine import PaymentOutcome, SaleEngine
from soldout.ids import new_id
from soldout.payments import (
    Authorization,
    EventType,
    PaymentRequest,
    TestPayments,
    Transaction,
    WebhookEvent,
    event_body,
    sign,
)
from soldout.services import Platform
from soldout.services.fulfilment import PlanInput
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.conftest import open_launch

SECRET = b"r" * 32
WINDOW = 60
DAY = date(2030, 2, 1)
LIVE_MONEY = ("captured",)
MONEY_BACK = ("refunded", "voided")


class Gate:
    """A one-shot pause: the paused step waits in `wait()` until the test calls `open()`."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._opened = asyncio.Event()

    async def wait(self) -> None:
        self.reached.set()
        await self._opened.wait()

    def open(self) -> None:
        self._opened.set()


class PausingPayments(TestPayments):
    """The `test` provider with hooks around each call. `pause("capture")` stops the next
    capture before the provider takes the money, `pause("captured")` just after; likewise
    `authorize`/`authorized` and `refund`/`refunded`. With an `rng` every call also yields
    to the event loop a random few times, so concurrent payments interleave per seed."""

    def __init__(self, clock: FakeClock, rng: random.Random | None = None) -> None:
        super().__init__(secret=SECRET, webhook_delay=0, clock=clock)
        self._gates: dict[str, Gate] = {}
        self._rng = rng

    def pause(self, step: str) -> Gate:
        gate = self._gates[step] = Gate()
        return gate

    async def _step(self, name: str) -> None:
        if self._rng is not None:
            await yield_a_few(self._rng)
        gate = self._gates.pop(name, None)
        if gate is not None:
            await gate.wait()

    async def authorize(self, request: PaymentRequest) -> Authorization:
        await self._step("authorize")
        answer = await super().authorize(request)
        await self._step("authorized")
        return answer

    async def capture(self, reference: str, amount: Money) -> None:
        await self._step("capture")
        await super().capture(reference, amount)
        await self._step("captured")

    async def refund(self, reference: str, amount: Money, reason: str = "") -> bool:
        await self._step("refund")
        taken = await super().refund(reference, amount, reason)
        await self._step("refunded")
        return taken


async def yield_a_few(rng: random.Random) -> None:
    for _ in range(rng.randrange(4)):
        await asyncio.sleep(0)


class Inbox:
    """Where the provider's webhooks land: held for the test to deliver (in any order, any
    number of times), or passed on at once. Delivery signs the body anew, as a provider's
    retry would, and keeps what soldout answered."""

    def __init__(self, platform: Platform, provider: TestPayments, clock: FakeClock) -> None:
        self.hold = True
        self.held: list[bytes] = []
        self.sent: list[EventType] = []  # every webhook the provider sent, by type
        self.answers: list[tuple[EventType, str]] = []
        self._platform, self._provider, self._clock = platform, provider, clock
        self._arrived = asyncio.Event()

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.sent.append(kind_of(body))
        if self.hold:
            self.held.append(body)
            self._arrived.set()
        else:
            await self.deliver(body)

    async def next(self) -> bytes:
        """The oldest held webhook, once the provider has sent one."""
        while not self.held:
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), 10.0)  # (ends at the webhook)
        return self.held.pop(0)

    async def deliver(self, body: bytes) -> str:
        headers = sign(self._provider.webhook_secret, body, self._clock.now())
        answer = await self._platform.engine.checkout.webhook(body, headers)
        self.answers.append((kind_of(body), answer))
        return answer


def kind_of(body: bytes) -> EventType:
    return EventType(orjson.loads(body)["type"])


def forged(kind: EventType, payment: PaymentRecord, clock: FakeClock) -> bytes:
    """A genuine-looking event about `payment` with a fresh id (a late or re-sent one)."""
    assert payment.reference is not None
    event = WebhookEvent(
        new_id("evt"),
        kind,
        payment.reference,
        payment.amount,
        payment.currency,
        clock.now(),
        payment.id,
    )
    return event_body(event)


class Sale:
    """A platform on the in-memory store with a pausing provider, and one launch."""

    def __init__(self, platform: Platform, provider: PausingPayments, clock: FakeClock) -> None:
        self.platform, self.provider, self.clock = platform, provider, clock
        self.inbox = Inbox(platform, provider, clock)
        provider.on_webhook(self.inbox)  # instead of straight to soldout
        self._book: LaunchBook | None = None

    @property
    def engine(self) -> SaleEngine:
        return self.platform.engine

    @property
    def book(self) -> LaunchBook:
        assert self._book is not None
        return self._book

    async def open(self, batch: dict[str, int], **rules: object) -> LaunchBook:
        rules.setdefault("payment_window_seconds", WINDOW)
        self._book = await open_launch(self.platform, batch=batch, **rules)
        return self._book

    async def plan(self, sku: str = "A", per_day: int = 1) -> None:
        """`per_day` units a day from DAY, none made before."""
        given = PlanInput(starts_on=DAY, produced=0, rates=[(DAY, per_day)], adjustments=[])
        await self.platform.fulfilment.set_plan(self.book.product.id, sku, given)

    async def claim(self, fan: str, quantity: int = 1, sku: str = "A", key: str = "c") -> Claim:
        outcome = await self.engine.claim(fan, self.book.launch.id, sku, quantity, key)
        return outcome.claim

    async def pay(
        self, fan: str, claim: Claim, token: str = "tok_ok", key: str = "p1"
    ) -> PaymentOutcome:
        return await self.engine.pay(fan, claim.id, "test", token, key)

    async def buy(self, fan: str, quantity: int = 1, sku: str = "A", key: str = "c") -> Order:
        claim = await self.claim(fan, quantity, sku, key)
        order = (await self.pay(fan, claim, key=f"{key}-pay")).order
        assert order is not None
        return order

    async def line(self, payment: PaymentRecord) -> Transaction:
        [found] = [
            t for t in await self.provider.transactions() if t.merchant_reference == payment.id
        ]
        return found

    def payment(self, claim: Claim) -> PaymentRecord:
        [only] = self.engine.checkout.payments_of(claim.id)
        return only

    async def quiet(self) -> None:
        """Deliver every held webhook and run until no other task is left (the provider's
        webhooks, the engine's background writes)."""
        for _ in range(10_000):
            if self.inbox.held:
                await self.inbox.deliver(self.inbox.held.pop(0))
                continue
            busy = asyncio.all_tasks() - {asyncio.current_task()}
            if not busy:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"still busy: {busy}")


@asynccontextmanager
async def running_sale(clock: FakeClock, rng: random.Random | None = None) -> AsyncIterator[Sale]:
    provider = PausingPayments(clock, rng)
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "adm"), clock, provider)
    await platform.start(sweep=False)
    try:
        yield Sale(platform, provider, clock)
    finally:
        await platform.stop()


@pytest.fixture
async def sale(clock: FakeClock) -> AsyncIterator[Sale]:
    async with running_sale(clock) as running:
        yield running


# -- the invariants ----------------------------------------------------------------------


def holds_its_unit(order: Order) -> bool:
    """Waiting to ship or shipped (even if refunded after): the unit is spent on it."""
    return order.in_queue or order.shipped_at is not None


async def assert_consistent(sale: Sale) -> None:
    engine = sale.engine
    orders = engine.orders.all()
    payments = engine.checkout.all()
    lines = {t.merchant_reference: t for t in await sale.provider.transactions()}
    for book in engine.books():
        for sku, stock in book.stock.items():
            assert stock.available >= 0, sku
            assert stock.held + stock.paid + stock.set_aside <= stock.batch, sku
            mine = [o for o in orders if o.launch_id == book.launch.id and o.sku == sku]
            assert stock.paid == sum(o.quantity for o in mine if holds_its_unit(o)), sku
    assert len({o.claim_id for o in orders}) == len(orders), "a claim with two orders"
    for order in orders:
        claim = engine.ledger.by_id(order.claim_id)
        returned = order.status is OrderStatus.REFUNDED and order.shipped_at is None
        assert claim.state is (ClaimState.CANCELLED if returned else ClaimState.PAID), order
        [paid_with] = [p for p in payments if p.reference == order.payment_reference]
        refunded = order.status is OrderStatus.REFUNDED
        assert paid_with.state is (PaymentState.REFUNDED if refunded else PaymentState.CAPTURED)
    for payment in payments:
        live = [
            o
            for o in orders
            if o.payment_reference == payment.reference and o.status is not OrderStatus.REFUNDED
        ]
        line = lines.get(payment.id)
        if payment.state is PaymentState.CAPTURED:
            assert len(live) == 1, f"captured payment {payment.id} has {len(live)} live orders"
            assert line is not None
            assert line.status in LIVE_MONEY
            assert line.captured == payment.amount
        else:
            assert not live, f"{payment.state} payment {payment.id} has a live order"
        if payment.state is PaymentState.REFUNDED:
            assert line is not None
            assert line.status in MONEY_BACK, line
            assert line.refunded in (0, payment.amount)  # voided, or refunded once
    for reference, line in lines.items():
        if line.status in LIVE_MONEY:  # the provider keeps money: for a live order only
            record = next(p for p in payments if p.id == reference)
            assert record.state is PaymentState.CAPTURED, (line, record)
    stored = {o.id: o for o in await sale.platform.store.orders.all()}
    assert stored == {o.id: o for o in orders}, "the record differs from memory"


# -- a late authorization ----------------------------------------------------------------


@pytest.mark.parametrize("token", ["tok_delayed", "tok_timeout"])
@pytest.mark.parametrize("swept", [True, False], ids=["swept", "lazy"])
@pytest.mark.parametrize("news", ["webhook", "retry"])
async def test_a_pending_payment_whose_claim_expired_is_refunded_when_its_outcome_comes(
    clock: FakeClock, token: str, swept: bool, news: str
) -> None:
    """The provider authorizes after the window: soldout learns it from the webhook, or
    from the fan's retry with the same key (which asks the provider again)."""
    async with slow_sale(clock) as (platform, sale):
        claim = await sale.claim("fan_1")
        pending = await sale.pay("fan_1", claim, token)
        assert pending.order is None  # 202: the provider decides later
        assert pending.payment.state is PaymentState.PENDING
        authorized = await sale.inbox.next()  # the provider has authorized; not yet told
        clock.advance(WINDOW + 1)
        if swept:
            assert await sale.engine.expire_due() == 1
            winner = await sale.buy("fan_2")  # the unit is sold again before the news
        if news == "webhook":
            assert await sale.inbox.deliver(authorized) == "claim_expired"
        else:
            with pytest.raises(errors.ClaimExpired):
                await sale.pay("fan_1", claim, token)
        if not swept:  # the news found the window passed and expired the claim itself
            winner = await sale.buy("fan_2")
        await sale.quiet()

        payment = sale.payment(claim)
        assert payment.state is PaymentState.REFUNDED
        assert (await sale.line(payment)).status == "voided"  # never captured
        assert claim.state is ClaimState.EXPIRED
        assert sale.engine.order_for(claim.id) is None
        assert [o.id for o in sale.engine.orders.all()] == [winner.id]
        stock = sale.book.stock["A"]
        assert (stock.available, stock.held, stock.paid) == (0, 0, 1)
        with pytest.raises(errors.SoldOut):  # sold once, to fan_2
            await sale.claim("fan_3")
        told = await platform.fans.notifications("fan_1", 10)
        assert [n.kind for n in told] == ["payment_refunded"]
        # Whatever arrives later changes nothing.
        assert await sale.inbox.deliver(authorized) in ("duplicate", "ignored")
        with pytest.raises(errors.Conflict):
            await sale.pay("fan_1", claim, token)
        assert len(sale.engine.orders.all()) == 1
        assert (await sale.line(payment)).status == "voided"
        await assert_consistent(sale)


async def test_a_slow_providers_payment_that_comes_in_time_keeps_no_stale_reason(
    clock: FakeClock,
) -> None:
    async with slow_sale(clock) as (_, sale):
        claim = await sale.claim("fan_1")
        pending = await sale.pay("fan_1", claim, "tok_timeout")
        assert pending.payment.reason == "the payment provider has not answered yet"
        assert await sale.inbox.deliver(await sale.inbox.next()) == "order_created"
        await sale.quiet()
        payment = sale.payment(claim)
        assert (payment.state, payment.reason) == (PaymentState.CAPTURED, None)


@asynccontextmanager
async def slow_sale(clock: FakeClock) -> AsyncIterator[tuple[Platform, Sale]]:
    """A launch of one unit whose provider answers after soldout stops waiting (0.01 s)."""
    provider = PausingPayments(clock)
    platform = Platform(
        InMemoryStore(), TokenSigner(b"k" * 32, "adm"), clock, provider, payment_timeout=0.01
    )
    await platform.start(sweep=False)
    sale = Sale(platform, provider, clock)
    try:
        await sale.open(batch={"A": 1})
        yield platform, sale
    finally:
        await platform.stop()


# -- capture in flight -------------------------------------------------------------------


@pytest.mark.parametrize("step", ["capture", "captured"], ids=["before-money", "after-money"])
@pytest.mark.parametrize("expiry", ["sweeper", "lazy"])
async def test_a_claim_that_expires_while_its_capture_is_in_flight_is_refunded(
    sale: Sale, step: str, expiry: str
) -> None:
    await sale.open(batch={"A": 1})
    claim = await sale.claim("fan_1")
    gate = sale.provider.pause(step)
    paying = asyncio.create_task(sale.pay("fan_1", claim))
    await gate.reached.wait()
    sale.clock.advance(WINDOW + 1)
    if expiry == "sweeper":
        assert await sale.engine.expire_due() == 1  # what the sweeper runs when woken
        assert claim.state is ClaimState.EXPIRED
    gate.open()
    with pytest.raises(errors.ClaimExpired):
        await paying
    await sale.quiet()

    payment = sale.payment(claim)
    assert payment.state is PaymentState.REFUNDED
    line = await sale.line(payment)
    assert (line.status, line.captured, line.refunded) == ("refunded", 1000, 1000)
    assert sale.engine.order_for(claim.id) is None
    assert claim.state is ClaimState.EXPIRED
    assert sale.book.stock["A"].available == 1
    assert sale.inbox.sent.count(EventType.REFUNDED) == 1
    assert sale.inbox.answers == [(EventType.REFUNDED, "ignored")]  # it knew already
    await sale.buy("fan_2")
    await assert_consistent(sale)


async def test_a_claim_cancelled_while_its_authorization_is_in_flight_is_refunded(
    sale: Sale,
) -> None:
    await sale.open(batch={"A": 1})
    claim = await sale.claim("fan_1")
    gate = sale.provider.pause("authorized")
    paying = asyncio.create_task(sale.pay("fan_1", claim))
    await gate.reached.wait()
    await sale.engine.cancel("fan_1", claim.id)  # the fan gives up in another tab
    gate.open()
    with pytest.raises(errors.Conflict) as refused:
        await paying
    assert refused.value.code == "claim_cancelled"
    assert (await sale.line(sale.payment(claim))).status == "voided"
    assert sale.engine.order_for(claim.id) is None
    await assert_consistent(sale)


@pytest.mark.parametrize("step", ["authorized", "capture", "captured"])
async def test_a_payment_whose_client_hangs_up_mid_call_still_ends_in_an_order(
    sale: Sale, step: str
) -> None:
    await sale.open(batch={"A": 1})
    claim = await sale.claim("fan_1")
    gate = sale.provider.pause(step)
    paying = asyncio.create_task(sale.pay("fan_1", claim))
    await gate.reached.wait()
    paying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paying
    gate.open()
    await sale.quiet()
    order = sale.engine.order_for(claim.id)
    assert order is not None
    assert (await sale.line(sale.payment(claim))).status == "captured"
    again = await sale.pay("fan_1", claim)  # the retry is answered with the order
    assert (again.order, again.replayed) == (order, True)
    await assert_consistent(sale)


# -- one claim, many payments ------------------------------------------------------------


def payment_keys(rng: random.Random) -> list[str]:
    keys = ["same"] * 10 + [f"other{i}" for i in range(10)]
    rng.shuffle(keys)
    return keys


@pytest.mark.parametrize("seed", range(3))
async def test_many_payments_of_one_claim_make_one_order_and_one_capture(
    clock: FakeClock, seed: int
) -> None:
    rng = random.Random(seed)
    async with running_sale(clock, rng) as sale:
        await sale.open(batch={"A": 1})
        claim = await sale.claim("fan_1")
        keys = payment_keys(rng)
        results = await asyncio.gather(
            *(sale.pay("fan_1", claim, key=k) for k in keys), return_exceptions=True
        )
        outcomes = [(k, r) for k, r in zip(keys, results, strict=True) if not is_error(r)]
        refusals = [r for r in results if is_error(r)]
        assert {k for k, _ in outcomes} == {keys[0]}  # the first to ask won; its key replays
        assert sum(not o.replayed for _, o in outcomes) == 1
        assert len({o.order.id for _, o in outcomes if o.order}) == 1
        assert len(outcomes) == keys.count(keys[0])
        assert all(isinstance(r, errors.AlreadyPaid) for r in refusals), refusals
        [line] = await sale.provider.transactions()
        assert (line.status, line.captured) == ("captured", 1000)
        assert len(sale.engine.orders.all()) == 1
        with pytest.raises(errors.IdempotencyKeyReused):  # the same key for another card
            await sale.pay("fan_1", claim, "tok_other", keys[0])
        await assert_consistent(sale)


@pytest.mark.parametrize("seed", range(3))
async def test_many_payments_of_one_claim_while_the_provider_decides(
    clock: FakeClock, seed: int
) -> None:
    """A slow card: the first attempt is pending; a retry with its key asks the provider
    again (and may finish the order itself), other keys wait; then the webhook, delivered
    three times, races more of the same. One order, one capture, whoever finishes it."""
    rng = random.Random(seed)
    async with running_sale(clock, rng) as sale:
        await sale.open(batch={"A": 1})
        claim = await sale.claim("fan_1")
        keys = payment_keys(rng)
        early = await asyncio.gather(
            *(sale.pay("fan_1", claim, "tok_delayed", k) for k in keys), return_exceptions=True
        )
        authorized = await sale.inbox.next()
        late = await asyncio.gather(
            *(sale.inbox.deliver(authorized) for _ in range(3)),
            *(sale.pay("fan_1", claim, "tok_delayed", k) for k in keys[:6]),
            return_exceptions=True,
        )
        order = sale.engine.order_for(claim.id)
        assert order is not None
        answers = late[:3]
        assert set(answers) <= {"order_created", "ignored", "duplicate"}, answers
        assert answers.count("order_created") <= 1
        assert answers.count("duplicate") >= 2  # one event id: noted once
        for key, result in zip(keys + keys[:6], early + late[3:], strict=True):
            if key == keys[0]:  # the first attempt and its retries: pending, or the order
                assert not is_error(result), result
                assert result.order in (None, order)
            else:
                assert isinstance(result, errors.PaymentPending | errors.AlreadyPaid), result
        again = await sale.pay("fan_1", claim, "tok_delayed", keys[0])
        assert (again.order, again.replayed) == (order, True)
        assert len(sale.engine.orders.all()) == 1
        assert len(sale.engine.checkout.payments_of(claim.id)) == 1
        [line] = await sale.provider.transactions()
        assert (line.status, line.captured) == ("captured", 1000)
        await assert_consistent(sale)


def is_error(result: object) -> bool:
    return isinstance(result, BaseException)


# -- many fans at once -------------------------------------------------------------------

TOKENS = ["tok_ok"] * 5 + ["tok_decline", "tok_delayed", "tok_delayed_decline", "tok_capture_fail"]
EXPECTED = (errors.Conflict, errors.PaymentDeclined, errors.PaymentFailed, errors.PaymentPending)
FANS = 40


@pytest.mark.parametrize("seed", range(6))
async def test_many_fans_paying_while_claims_expire_keep_every_invariant(
    clock: FakeClock, seed: int
) -> None:
    """Dozens of fans claim, pay (some twice, some with a slow or bad card), cancel and
    refund, while time passes and claims expire, the warehouse ships, the plan changes, and
    webhooks arrive late, out of order and more than once."""
    rng = random.Random(seed)
    async with running_sale(clock, rng) as sale:
        book = await sale.open(batch={"A": 16, "B": 8}, per_fan_limit=2)
        await sale.plan("A", 2)
        engine, platform = sale.engine, sale.platform
        selling = asyncio.Event()

        def check(results: list[Any]) -> None:
            for result in results:
                unexpected = not isinstance(result, EXPECTED) or isinstance(
                    result, errors.IdempotencyKeyReused
                )
                if is_error(result) and unexpected:
                    raise result

        async def fan(n: int) -> None:
            fan_id = f"fan_{n}"
            for attempt in range(3):
                await yield_a_few(rng)
                sku, quantity = rng.choice("AAB"), rng.choice((1, 1, 2))
                try:
                    claim = await sale.claim(fan_id, quantity, sku, f"c{attempt}")
                except errors.Conflict:
                    continue
                token = rng.choice(TOKENS)
                key = f"p{attempt}"
                tries: list[Coroutine[Any, Any, object]] = [sale.pay(fan_id, claim, token, key)]
                if rng.random() < 0.3:  # a double click
                    tries.append(sale.pay(fan_id, claim, token, key))
                if rng.random() < 0.3:  # another tab, another card
                    tries.append(sale.pay(fan_id, claim, "tok_ok", f"{key}-again"))
                if rng.random() < 0.1:
                    tries.append(engine.cancel(fan_id, claim.id))
                check(await asyncio.gather(*tries, return_exceptions=True))
                order = engine.order_for(claim.id)
                if order is not None and rng.random() < 0.25:
                    await yield_a_few(rng)
                    refund = (
                        platform.fulfilment.refund(order.id, "changed their mind")
                        if rng.random() < 0.5
                        else platform.fans.cancel_order(fan_id, order.id)
                    )
                    check(await asyncio.gather(refund, return_exceptions=True))

        async def time_passes() -> None:
            for _ in range(40):
                clock.advance(rng.choice((0, 5, 15, 30)))
                await engine.expire_due()
                for _ in range(rng.randrange(10)):
                    await asyncio.sleep(0)

        async def warehouse() -> None:
            for _ in range(15):
                await yield_a_few(rng)
                if rng.random() < 0.5:
                    count = rng.randint(1, 2)
                    await platform.fulfilment.ship_next(book.product.id, "A", count, "DHL", None)
                else:
                    await sale.plan("A", rng.choice((1, 2, 5)))

        async def postman() -> None:
            held = sale.inbox.held
            while selling.is_set() or held:
                if held:
                    body = held.pop(rng.randrange(len(held)))
                    if rng.random() < 0.3:
                        held.append(body)  # delivered again later
                    await sale.inbox.deliver(body)
                await asyncio.sleep(0)

        selling.set()
        post = asyncio.create_task(postman())
        await asyncio.gather(*(fan(n) for n in range(FANS)), time_passes(), warehouse())
        selling.clear()
        await post
        clock.advance(WINDOW)
        await engine.expire_due()
        await sale.quiet()

        await assert_consistent(sale)
        # (40 seeds make 6 to 23 orders: the count follows how the random walk interleaves)
        assert len(engine.orders.all()) >= 5, "too few sales to prove anything"
        for payment in engine.checkout.all():  # nothing left half-way
            assert payment.state not in (PaymentState.PENDING, PaymentState.AUTHORIZED)
        for line in await sale.provider.transactions():  # no money held for nothing
            assert line.status not in ("pending", "authorized"), line
        await assert_rebuilt_identically(sale, clock)


async def assert_rebuilt_identically(sale: Sale, clock: FakeClock) -> None:
    store: InMemoryStore = sale.platform.store  # type: ignore[assignment]
    reborn = Platform(
        store.crash_copy(), TokenSigner(b"k" * 32, "adm"), clock, TestPayments(secret=SECRET)
    )
    await reborn.start(sweep=False)
    try:
        before = {o.id: o for o in sale.engine.orders.all()}
        assert {o.id: o for o in reborn.engine.orders.all()} == before
        states = {p.id: p.state for p in sale.engine.checkout.all()}
        assert {p.id: p.state for p in reborn.engine.checkout.all()} == states
        for old, new in zip(sale.engine.books(), reborn.engine.books(), strict=True):
            assert (old.stock, old.fan_units) == (new.stock, new.fan_units)
    finally:
        await reborn.stop()


# -- refunds -----------------------------------------------------------------------------


async def test_refunding_an_unshipped_order_returns_its_units_and_moves_the_queue_up(
    sale: Sale,
) -> None:
    book = await sale.open(batch={"A": 4}, per_fan_limit=2)
    await sale.plan("A", per_day=1)
    first = await sale.buy("fan_1", quantity=2)
    second, third = await sale.buy("fan_2"), await sale.buy("fan_3")
    assert [o.ship_date for o in (first, second, third)] == [
        DAY + timedelta(days=1),
        DAY + timedelta(days=2),
        DAY + timedelta(days=3),
    ]
    assert book.sold_out()

    sale.inbox.hold = False
    refunded = await sale.platform.fulfilment.refund(first.id, "the fan changed their mind")
    await sale.quiet()

    assert refunded.status is OrderStatus.REFUNDED
    stock = book.stock["A"]
    assert (stock.available, stock.held, stock.paid) == (2, 0, 2)
    assert "fan_1" not in book.fan_units  # the allowance is back
    assert sale.engine.ledger.by_id(first.claim_id).state is ClaimState.CANCELLED
    assert (second.ship_date, third.ship_date) == (DAY, DAY + timedelta(days=1))
    queue = await sale.platform.fulfilment.queue(book.product.id, "A")
    assert (queue.open_orders, queue.open_units) == (2, 2)
    moved = await sale.platform.fans.notifications("fan_2", 10)
    assert moved[0].kind == "ship_date_changed"
    assert moved[0].data == {
        "order_id": second.id,
        "before": (DAY + timedelta(days=2)).isoformat(),
        "after": DAY.isoformat(),
    }
    assert [n.kind for n in await sale.platform.fans.notifications("fan_1", 1)] == [
        "order_refunded"
    ]
    line = await sale.line(sale.payment(sale.engine.ledger.by_id(first.claim_id)))
    assert (line.status, line.refunded) == ("refunded", 2000)
    assert sale.inbox.answers == [(EventType.REFUNDED, "ignored")]
    again = await sale.buy("fan_1", quantity=2, key="c2")  # back on sale, even to the same fan
    assert again.ship_date == DAY + timedelta(days=3)  # units 3 and 4 of the line
    await assert_consistent(sale)


async def test_refunding_a_shipped_order_leaves_stock_and_queue_alone(sale: Sale) -> None:
    book = await sale.open(batch={"A": 3})
    await sale.plan("A", per_day=1)
    first, second = await sale.buy("fan_1"), await sale.buy("fan_2")
    [shipped] = await sale.platform.fulfilment.ship_next(book.product.id, "A", 1, "DHL", None)
    assert shipped is first
    before = (book.stock["A"].available, book.stock["A"].paid, dict(book.fan_units))
    dated = second.ship_date

    await sale.platform.fulfilment.refund(first.id, "arrived broken")
    await sale.quiet()

    assert first.status is OrderStatus.REFUNDED
    assert first.shipped_at is not None
    assert (book.stock["A"].available, book.stock["A"].paid, dict(book.fan_units)) == before
    assert sale.engine.ledger.by_id(first.claim_id).state is ClaimState.PAID
    assert second.ship_date == dated
    assert (
        await sale.line(sale.payment(sale.engine.ledger.by_id(first.claim_id)))
    ).refunded == 1000
    await assert_consistent(sale)


async def test_refunding_twice_refunds_once(sale: Sale) -> None:
    book = await sale.open(batch={"A": 2})
    order = await sale.buy("fan_1")
    claim = sale.engine.ledger.by_id(order.claim_id)
    sale.inbox.hold = False
    await asyncio.gather(
        sale.platform.fulfilment.refund(order.id, "one"),
        sale.platform.fulfilment.refund(order.id, "two"),
        sale.platform.fans.cancel_order("fan_1", order.id),
    )
    await sale.platform.fulfilment.refund(order.id, "three")
    await sale.quiet()

    line = await sale.line(sale.payment(claim))
    assert (line.status, line.captured, line.refunded) == ("refunded", 1000, 1000)
    assert sale.inbox.sent == [EventType.REFUNDED]  # the provider refunded once
    told = await sale.platform.fans.notifications("fan_1", 10)
    assert [n.kind for n in told].count("order_refunded") == 1
    assert book.stock["A"].available == 2  # the unit came back once
    events = await sale.platform.fans.history(order)
    assert [e.kind for e in events].count("refunded") == 1
    await assert_consistent(sale)


@pytest.mark.parametrize("step", ["refund", "refunded"], ids=["before-money", "after-money"])
async def test_an_order_whose_refund_is_in_flight_is_not_shipped(sale: Sale, step: str) -> None:
    book = await sale.open(batch={"A": 2})
    order = await sale.buy("fan_1")
    sale.inbox.hold = False  # the provider's payment.refunded arrives mid-refund
    gate = sale.provider.pause(step)
    refunding = asyncio.create_task(sale.platform.fulfilment.refund(order.id, "late"))
    await gate.reached.wait()
    assert await sale.platform.fulfilment.ship_next(book.product.id, "A", 1, "DHL", None) == []
    with pytest.raises(errors.Conflict):
        await sale.platform.fulfilment.ship_listed([(order.id, "DHL", None)])
    gate.open()
    await refunding
    await sale.quiet()

    assert order.status is OrderStatus.REFUNDED
    assert order.shipped_at is None
    assert (book.stock["A"].available, book.stock["A"].paid) == (2, 0)  # back on sale
    assert sale.engine.ledger.by_id(order.claim_id).state is ClaimState.CANCELLED
    await assert_consistent(sale)


async def test_a_provider_refund_racing_the_makers_returns_the_unit_once(sale: Sale) -> None:
    book = await sale.open(batch={"A": 1})
    order = await sale.buy("fan_1")
    payment = sale.payment(sale.engine.ledger.by_id(order.claim_id))
    sale.inbox.hold = False
    gate = sale.provider.pause("refund")
    makers = asyncio.create_task(sale.platform.fulfilment.refund(order.id, "maker"))
    await gate.reached.wait()
    assert payment.reference is not None
    await sale.provider.refund(payment.reference, Money(1000, "EUR"))  # from its dashboard
    gate.open()
    await makers
    await sale.quiet()

    assert order.status is OrderStatus.REFUNDED
    assert (book.stock["A"].available, book.stock["A"].paid) == (1, 0)
    assert sale.inbox.sent == [EventType.REFUNDED]
    line = await sale.line(payment)
    assert (line.status, line.refunded) == ("refunded", 1000)
    await assert_consistent(sale)


# -- webhooks out of order, and again ----------------------------------------------------


async def test_a_webhook_delivered_again_makes_no_second_order(sale: Sale) -> None:
    await sale.open(batch={"A": 2})
    claim = await sale.claim("fan_1")
    await sale.pay("fan_1", claim, "tok_delayed")
    authorized = await sale.inbox.next()
    answers = await asyncio.gather(*(sale.inbox.deliver(authorized) for _ in range(5)))
    assert sorted(answers) == ["duplicate"] * 4 + ["order_created"]
    payment = sale.payment(claim)
    assert await sale.inbox.deliver(forged(EventType.AUTHORIZED, payment, sale.clock)) == "ignored"
    assert len(sale.engine.orders.all()) == 1
    line = await sale.line(payment)
    assert (line.status, line.captured) == ("captured", 1000)
    await assert_consistent(sale)


async def test_a_late_authorization_after_a_refund_makes_no_order(sale: Sale) -> None:
    book = await sale.open(batch={"A": 1})
    claim = await sale.claim("fan_1")
    await sale.pay("fan_1", claim, "tok_delayed")
    authorized = await sale.inbox.next()
    assert await sale.inbox.deliver(authorized) == "order_created"
    order = sale.engine.order_for(claim.id)
    assert order is not None
    await sale.platform.fulfilment.refund(order.id, "maker")
    refunded = await sale.inbox.next()
    payment = sale.payment(claim)

    # Out of order and again: the old authorization, the refund twice, a decline.
    assert await sale.inbox.deliver(authorized) == "duplicate"
    assert await sale.inbox.deliver(forged(EventType.AUTHORIZED, payment, sale.clock)) == "ignored"
    assert await sale.inbox.deliver(refunded) == "ignored"
    assert await sale.inbox.deliver(refunded) == "duplicate"
    assert await sale.inbox.deliver(forged(EventType.DECLINED, payment, sale.clock)) == "ignored"

    assert [o.status for o in sale.engine.orders.all()] == [OrderStatus.REFUNDED]
    assert claim.state is ClaimState.CANCELLED
    assert (book.stock["A"].available, book.stock["A"].paid) == (1, 0)
    line = await sale.line(payment)
    assert (line.status, line.captured, line.refunded) == ("refunded", 1000, 1000)
    winner = await sale.buy("fan_2")  # the unit sells once more, once
    assert [o.id for o in sale.engine.orders.all() if o.in_queue] == [winner.id]
    await assert_consistent(sale)


async def test_a_provider_refund_delivered_twice_returns_the_unit_once(sale: Sale) -> None:
    book = await sale.open(batch={"A": 1})
    order = await sale.buy("fan_1")
    payment = sale.payment(sale.engine.ledger.by_id(order.claim_id))
    assert payment.reference is not None
    await sale.provider.refund(payment.reference, Money(1000, "EUR"))  # from its dashboard
    refunded = await sale.inbox.next()
    assert await sale.inbox.deliver(refunded) == "refunded"
    assert await sale.inbox.deliver(refunded) == "duplicate"
    assert await sale.inbox.deliver(forged(EventType.REFUNDED, payment, sale.clock)) == "ignored"
    assert await sale.inbox.deliver(forged(EventType.AUTHORIZED, payment, sale.clock)) == "ignored"
    assert order.status is OrderStatus.REFUNDED
    assert (book.stock["A"].available, book.stock["A"].paid) == (1, 0)
    told = await sale.platform.fans.notifications("fan_1", 10)
    assert [n.kind for n in told].count("order_refunded") == 1
    await assert_consistent(sale)


async def test_a_decline_and_an_authorization_in_either_order_make_at_most_one_order(
    sale: Sale,
) -> None:
    await sale.open(batch={"A": 2})
    # Declined first: a late authorization of the same attempt is ignored.
    claim = await sale.claim("fan_1")
    await sale.pay("fan_1", claim, "tok_delayed_decline", "p1")
    declined = await sale.inbox.next()
    assert await sale.inbox.deliver(declined) == "declined"
    first = sale.payment(claim)
    assert await sale.inbox.deliver(forged(EventType.AUTHORIZED, first, sale.clock)) == "ignored"
    assert sale.engine.order_for(claim.id) is None
    assert claim.state is ClaimState.HELD  # the fan may try another card
    # Then a second attempt is authorized; the first's decline arrives again, late.
    await sale.pay("fan_1", claim, "tok_delayed", "p2")
    authorized = await sale.inbox.next()
    assert await sale.inbox.deliver(authorized) == "order_created"
    assert await sale.inbox.deliver(declined) == "duplicate"
    [second] = [p for p in sale.engine.checkout.payments_of(claim.id) if p is not first]
    assert await sale.inbox.deliver(forged(EventType.DECLINED, second, sale.clock)) == "ignored"
    order = sale.engine.order_for(claim.id)
    assert order is not None
    assert order.status is not OrderStatus.REFUNDED
    assert (first.state, second.state) == (PaymentState.DECLINED, PaymentState.CAPTURED)
    assert len(sale.engine.orders.all()) == 1
    await assert_consistent(sale)


async def test_a_webhook_for_a_payment_soldout_never_made_is_ignored(sale: Sale) -> None:
    await sale.open(batch={"A": 1})
    stranger = PaymentRecord(
        "pay_unknown", "clm_x", "fan_x", "test", "test", 1000, "EUR", "k", "f",
        sale.clock.now(), sale.clock.now(), reference="tpay_x",
    )  # fmt: skip
    body = forged(EventType.AUTHORIZED, stranger, sale.clock)
    assert await sale.inbox.deliver(body) == "unknown_payment"
    assert sale.engine.orders.all() == []
