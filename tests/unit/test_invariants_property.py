"""Random interleavings of claim / pay / cancel / expire / webhook / refund / ship / re-plan /
restart, checked against every invariant of the engine, on the in-memory store and on the
real SQLite and PostgreSQL stores.

PostgreSQL: the session's server (tests/postgres.py), a fresh database per example."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState, Order, OrderStatus
from soldout.domain.fulfilment import SupplyCurve, schedule
from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.payments import PaymentState, request_fingerprint
from soldout.domain.products import Sku
from soldout.payments import TestPayments, sign
from soldout.services import Platform
from soldout.services.fulfilment import PlanInput
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.ports import Store
from soldout.store.postgresql import PostgresStore
from soldout.store.sqlite import SqliteStore
from tests.postgres import PostgresTarget

pytest_plugins = ["tests.postgres"]

FANS = [f"fan_{i}" for i in range(6)]
KEYS = [f"key{i}" for i in range(8)]
SKUS = ["A", "B"]
LIMIT = 2
WINDOW = 60
BATCH = {"A": 4, "B": 2}
REFUSALS = (errors.Conflict, errors.InvalidInput, errors.NotFound)
PAYMENT_REFUSALS = (*REFUSALS, errors.PaymentDeclined, errors.PaymentFailed, errors.PaymentPending)
TOKENS = ["tok_ok", "tok_ok", "tok_ok", "tok_decline", "tok_delayed", "tok_capture_fail"]
SECRET = b"w" * 32
DAY = date(2030, 1, 3)


class SaleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.tmp = Path(tempfile.mkdtemp(prefix="soldout-prop-"))
        self.memory = InMemoryStore()
        self.webhooks: list[bytes] = []  # what the provider sent, kept for (re)delivery
        self.platform = self._boot()
        skus = [Sku(c, c, Money(700, "EUR"), Money(500, "EUR")) for c in SKUS]
        product = self.run(self.platform.catalog.create_product("P", "", skus))
        self.product_id = product.id
        book = self.run(
            self.platform.catalog.create_launch(
                product_id=product.id,
                title="t",
                sale_opens_at=self.clock.now(),
                rules=LaunchRules(per_fan_limit=LIMIT, payment_window_seconds=WINDOW),
                batch=dict(BATCH),
            )
        )
        self.launch_id = book.launch.id
        self.codes = [
            c.code for c in self.run(self.platform.catalog.issue_codes(book.launch.id, "A", 1))
        ]
        self.told: dict[str, Claim] = {}  # claim id -> what a client was answered
        self.first_answer: dict[tuple[str, str], str] = {}
        self.bought = 0

    def _open_store(self) -> Store:
        """The store as a process starting now finds it: of the fake, what a crash keeps."""
        self.memory = self.memory.crash_copy()
        return self.memory

    def _boot(self) -> Platform:
        store = self._open_store()
        # The provider's ledger outlives a restart, as a real provider's would.
        provider = TestPayments(
            self.tmp / "provider.db", secret=SECRET, webhook_delay=0, clock=self.clock
        )
        platform = Platform(store, TokenSigner(b"s" * 32, "adm"), self.clock, provider)
        provider.on_webhook(self._held)  # delivered by the `webhook` rule, in any order
        self.run(platform.start(sweep=False))
        return platform

    async def _held(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.webhooks.append(body)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.platform.stop())
        self.loop.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- actions ---------------------------------------------------------------------
    @rule(
        requests=st.lists(
            st.tuples(
                st.sampled_from(FANS),
                st.sampled_from(KEYS),
                st.sampled_from(SKUS),
                st.integers(1, 3),
                st.booleans(),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def claim_burst(self, requests: list[tuple[str, str, str, int, bool]]) -> None:
        """Several claims in flight at once, duplicate keys included."""

        async def burst() -> None:
            await asyncio.gather(*(self._claim(*r) for r in requests))

        self.run(burst())

    async def _claim(
        self, fan: str, key: str, sku: str, qty: int, use_code: bool = False
    ) -> Claim | None:
        code = self.codes[0] if use_code and sku == "A" and qty == 1 else None
        try:
            outcome = await self.platform.engine.claim(fan, self.launch_id, sku, qty, key, code)
        except REFUSALS:
            return None
        claim = outcome.claim
        first = self.first_answer.setdefault((fan, key), claim.id)
        assert first == claim.id, "a retried key made a second claim"
        self.told[claim.id] = Claim(**{s: getattr(claim, s) for s in Claim.__slots__})
        return claim

    @rule(fan=st.sampled_from(FANS), sku=st.sampled_from(SKUS), qty=st.integers(1, 2))
    def buy(self, fan: str, sku: str, qty: int) -> None:
        """A fan claims and pays at once with a good card (most sales go so)."""
        self.bought += 1
        key = f"buy{self.bought}"
        claim = self.run(self._claim(fan, key, sku, qty))
        if claim is not None:
            outcome = self.run(self.platform.engine.pay(fan, claim.id, "test", "tok_ok", key))
            assert outcome.order is not None
            assert outcome.order.in_queue

    def _pick(self, data: st.DataObject) -> Claim:
        """A told claim, drawn by its place in answer order (ids are random); more often
        one still held, which is the interesting kind to pay for."""
        told = list(self.told.values())
        held = [c for c in told if self.platform.engine.ledger.by_id(c.id).is_held]
        pool = held if held and bool(data.draw(st.booleans())) else told
        return pool[data.draw(st.integers(0, len(pool) - 1))]

    @precondition(lambda self: self.told)
    @rule(
        data=st.data(),
        attempts=st.lists(
            st.tuples(st.sampled_from([1, 2]), st.sampled_from(TOKENS)), min_size=1, max_size=3
        ),
    )
    def pay_burst(self, data: st.DataObject, attempts: list[tuple[int, str]]) -> None:
        """Payments in flight at once: a double click (same key), another tab (another key),
        another fan's claim. A key is per claim, so a retry is one."""

        async def one(claim: Claim, n: int, token: str) -> None:
            key = f"{claim.idempotency_key}-pay{n}"
            try:
                outcome = await self.platform.engine.pay(claim.fan_id, claim.id, "test", token, key)
            except errors.IdempotencyKeyReused:  # only ever for another card
                payments = self.platform.engine.checkout.payments_of(claim.id)
                first = next(p for p in payments if p.idempotency_key == key)
                assert first.fingerprint != request_fingerprint(claim.id, "test", token)
                return
            except PAYMENT_REFUSALS:
                return
            if outcome.order is not None:
                assert outcome.order.total == claim.unit_price * claim.quantity
                assert outcome.order.claim_id == claim.id

        picked = [(self._pick(data), n, token) for n, token in attempts]

        async def burst() -> None:
            await asyncio.gather(*(one(*p) for p in picked))

        self.run(burst())

    @precondition(lambda self: self.webhooks)
    @rule(data=st.data())
    def webhook(self, data: st.DataObject) -> None:
        """A webhook the provider sent arrives now: late, out of order, or once more."""
        body = self.webhooks[data.draw(st.integers(0, len(self.webhooks) - 1))]
        checkout = self.platform.engine.checkout
        headers = sign(SECRET, body, self.clock.now())
        self.run(checkout.webhook(body, headers))

    @precondition(lambda self: self.told)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        claim = self._pick(data)
        try:
            self.run(self.platform.engine.cancel(claim.fan_id, claim.id))
        except REFUSALS:
            return

    def _orders(self) -> list[Order]:
        return sorted(self.platform.engine.orders.all(), key=_place)

    @precondition(lambda self: any(o.status is not OrderStatus.REFUNDED for o in self._orders()))
    @rule(data=st.data(), by_fan=st.booleans(), again=st.booleans())
    def refund(self, data: st.DataObject, by_fan: bool, again: bool) -> None:
        """The maker refunds an order, or its fan cancels it (refused once shipped); now and
        then one already refunded (which changes nothing)."""
        orders = self._orders()
        if not again:
            orders = [o for o in orders if o.status is not OrderStatus.REFUNDED]
        order = orders[data.draw(st.integers(0, len(orders) - 1))]
        if by_fan:
            work = self.platform.fans.cancel_order(order.fan_id, order.id)
        else:
            work = self.platform.fulfilment.refund(order.id, "refunded by the maker")
        try:
            self.run(work)
        except REFUSALS:
            assert by_fan
            assert order.status is OrderStatus.SHIPPED
            return
        assert order.status is OrderStatus.REFUNDED
        assert order.refunded_at is not None

    @rule(sku=st.sampled_from(SKUS), count=st.integers(1, 2))
    def ship_next(self, sku: str, count: int) -> None:
        waiting = self.platform.engine.orders.fulfilment.next_open(self.product_id, sku, count)
        shipped = self.run(
            self.platform.fulfilment.ship_next(self.product_id, sku, count, "DHL", None)
        )
        assert shipped == waiting
        assert all(o.status is OrderStatus.SHIPPED for o in shipped)

    @initialize(per_day=st.sampled_from([None, 1, 2]))
    def plan_first(self, per_day: int | None) -> None:
        """Most sales start with a plan for A (so orders get dates as they are paid)."""
        if per_day is not None:
            self.set_plan("A", 0, per_day, 0)

    @precondition(lambda self: any(o.in_queue for o in self._orders()))
    @rule(data=st.data())
    def ship_out_of_turn(self, data: st.DataObject) -> None:
        """The warehouse ships an order it picked itself: those ahead of it may now wait."""
        waiting = [o for o in self._orders() if o.in_queue]
        order = waiting[-1 - data.draw(st.integers(0, len(waiting) - 1))]  # the last, first
        [shipped] = self.run(self.platform.fulfilment.ship_listed([(order.id, "UPS", "1Z")]))
        assert shipped is order
        assert order.status is OrderStatus.SHIPPED

    @rule(
        sku=st.sampled_from(SKUS),
        produced=st.sampled_from([0, 3]),
        per_day=st.sampled_from([0, 1, 2]),
        later=st.sampled_from([0, 2]),
    )
    def set_plan(self, sku: str, produced: int, per_day: int, later: int) -> None:
        """A new production plan; `per_day=0` with nothing produced dates no order."""
        rates = [(DAY + timedelta(days=later), per_day)]
        plan = PlanInput(starts_on=DAY, produced=produced, rates=rates, adjustments=[])
        self.run(self.platform.fulfilment.set_plan(self.product_id, sku, plan))

    @rule(seconds=st.sampled_from([1, 30, WINDOW]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.run(self.platform.engine.expire_due())

    @rule()
    def restart(self) -> None:
        before = self._snapshot()
        self.run(self.platform.stop())
        self.platform = self._boot()
        if self.platform.resumed_payments:
            # payments left pending were settled with the provider at start (an order, or
            # the money back): what that wrote must survive the next restart unchanged
            before = self._snapshot()
            self.run(self.platform.stop())
            self.platform = self._boot()
            assert self.platform.resumed_payments == 0
        assert self._snapshot() == before, "the restart rebuilt something else"

    def _snapshot(self) -> tuple[object, ...]:
        """Orders (with ship dates), payment states, queues and counters, as values."""
        engine = self.platform.engine
        fulfilment = engine.orders.fulfilment
        book = engine.book(self.launch_id)
        return (
            {o.id: replace(o) for o in engine.orders.all()},
            {p.id: (p.state, p.reference, p.amount) for p in engine.checkout.all()},
            {
                sku: [o.id for o in fulfilment.queue(self.product_id, sku).open]
                + [fulfilment.queue(self.product_id, sku).shipped_units]
                for sku in SKUS
            },
            {sku: replace(stock) for sku, stock in book.stock.items()},
            dict(book.fan_units),
        )

    # -- invariants ------------------------------------------------------------------
    def _recorded(self) -> list[Claim]:
        return list(self.run(self.platform.store.claims.all()))

    def _recorded_orders(self) -> list[Order]:
        """The orders on record, once the dates a change moved are: those follow it, from
        the outbox (`ShipNews`), in their own transaction (on PostgreSQL, a read may come
        while that one commits)."""
        self.run(self.platform.engine.ship_news.drained())
        return list(self.run(self.platform.store.orders.all()))

    @invariant()
    def never_oversold(self) -> None:
        book = self.platform.engine.book(self.launch_id)
        for code, stock in book.stock.items():
            assert stock.available >= 0
            assert stock.held + stock.paid + stock.set_aside <= BATCH[code]

    @invariant()
    def counters_match_the_record(self) -> None:
        """Exactly-once release: the counters equal what the durable record says."""
        book = self.platform.engine.book(self.launch_id)
        recorded = self._recorded()
        for code, stock in book.stock.items():
            held = sum(c.quantity for c in recorded if c.sku == code and c.is_held)
            paid = sum(c.quantity for c in recorded if c.sku == code and c.state is ClaimState.PAID)
            assert (stock.held, stock.paid) == (held, paid)

    @invariant()
    def every_yes_exists_and_keys_are_unique(self) -> None:
        recorded = {c.id: c for c in self._recorded()}
        for claim_id, told in self.told.items():
            stored = recorded[claim_id]
            assert (stored.fan_id, stored.sku, stored.quantity, stored.unit_price) == (
                told.fan_id,
                told.sku,
                told.quantity,
                told.unit_price,
            )
        per_key = Counter((c.fan_id, c.idempotency_key) for c in recorded.values())
        assert max(per_key.values(), default=1) == 1

    @invariant()
    def limits_hold(self) -> None:
        live: Counter[str] = Counter()
        for c in self._recorded():
            if c.state in (ClaimState.HELD, ClaimState.PAID):
                live[c.fan_id] += c.quantity
        assert max(live.values(), default=0) <= LIMIT

    @invariant()
    def an_order_exists_only_with_its_unit(self) -> None:
        """Its claim is paid; or cancelled, exactly when it was refunded before shipping.
        Every paid claim has its one order."""
        orders = self._recorded_orders()
        assert len({o.claim_id for o in orders}) == len(orders)
        states = {c.id: c.state for c in self._recorded()}
        for order in orders:
            returned = order.status is OrderStatus.REFUNDED and order.shipped_at is None
            assert states[order.claim_id] is (
                ClaimState.CANCELLED if returned else ClaimState.PAID
            ), order
        with_unit = {o.claim_id for o in orders if _holds_its_unit(o)}
        assert with_unit == {i for i, s in states.items() if s is ClaimState.PAID}

    @invariant()
    def paid_units_are_the_live_orders(self) -> None:
        """Per SKU: paid = units of orders waiting to ship + units shipped (refunded or not)."""
        book = self.platform.engine.book(self.launch_id)
        orders = self.platform.engine.orders.all()
        for code, stock in book.stock.items():
            mine = [o for o in orders if o.sku == code]
            waiting = sum(o.quantity for o in mine if o.in_queue)
            shipped = sum(o.quantity for o in mine if o.shipped_at is not None)
            assert stock.paid == waiting + shipped, code

    @invariant()
    def money_matches_the_orders(self) -> None:
        """A captured payment has one live order; a refunded one has none."""
        orders = self.platform.engine.orders.all()
        for payment in self.platform.engine.checkout.all():
            live = [
                o
                for o in orders
                if o.payment_reference == payment.reference and o.status is not OrderStatus.REFUNDED
            ]
            expected = 1 if payment.state is PaymentState.CAPTURED else 0
            assert len(live) == expected, (payment, live)

    @invariant()
    def ship_dates_follow_the_queue(self) -> None:
        """Open orders of a queue, in payment order, have non-decreasing ship dates (no
        date only at the end): each the date a full recompute gives, as recorded."""
        recorded = {o.id: o for o in self._recorded_orders()}
        fulfilment = self.platform.engine.orders.fulfilment
        for sku in SKUS:
            queue = fulfilment.queue(self.product_id, sku)
            waiting = sorted(
                (o for o in self.platform.engine.orders.all() if o.sku == sku and o.in_queue),
                key=_place,
            )
            assert queue.open == waiting
            dates = [o.ship_date for o in waiting]
            known = [d for d in dates if d is not None]
            assert known == sorted(known)
            assert dates[: len(known)] == known, "an order without a date ahead of one with"
            if queue.plan is None:
                assert not known
            else:
                curve = SupplyCurve(queue.plan)
                assert dates == schedule(curve, queue.shipped_units, [o.quantity for o in waiting])
            for order in waiting:
                assert recorded[order.id] == order
                assert (order.status is OrderStatus.SCHEDULED) == (order.ship_date is not None)


def _place(order: Order) -> tuple[str, str]:
    return (order.paid_at.isoformat(), order.id)


def _holds_its_unit(order: Order) -> bool:
    return order.in_queue or order.shipped_at is not None


class SqliteSaleMachine(SaleMachine):
    def _open_store(self) -> Store:
        return SqliteStore(self.tmp / "soldout.db")


class PostgresSaleMachine(SaleMachine):
    """On a database of its own, made for the example and dropped after it; a restart opens
    another store on it once the old one is closed (and its advisory lock let go)."""

    server: ClassVar[PostgresTarget | None] = None  # set by `postgres_for_machines`

    def __init__(self) -> None:
        server = PostgresSaleMachine.server
        assert server is not None, "TestPostgres runs under the postgres_for_machines fixture"
        self.database = contextlib.ExitStack()
        self.url = self.database.enter_context(server.database())
        try:
            super().__init__()
        except BaseException:
            self._abandon()
            raise

    def _open_store(self) -> Store:
        self.store = PostgresStore(self.url)
        return self.store

    def _abandon(self) -> None:
        """After a failed __init__, which no teardown() follows: close what it opened (no
        task of its left behind in a closed loop), drop the database."""
        try:
            loop: asyncio.AbstractEventLoop | None = getattr(self, "loop", None)
            store: PostgresStore | None = getattr(self, "store", None)
            if loop is not None:
                if store is not None:
                    with contextlib.suppress(Exception):
                        loop.run_until_complete(store.close())
                loop.close()
        finally:
            self.database.close()

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.database.close()


@pytest.fixture
def postgres_for_machines(postgres_server: PostgresTarget) -> Iterator[None]:
    """Hands the session's server to the machine, which gets no fixture of its own."""
    PostgresSaleMachine.server = postgres_server
    try:
        yield
    finally:
        PostgresSaleMachine.server = None


_settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestInMemory = SaleMachine.TestCase
TestInMemory.settings = _settings
TestSqlite = SqliteSaleMachine.TestCase
TestSqlite.settings = settings(_settings, max_examples=20)
TestPostgres = pytest.mark.usefixtures("postgres_for_machines")(PostgresSaleMachine.TestCase)
TestPostgres.settings = settings(_settings, max_examples=12)
