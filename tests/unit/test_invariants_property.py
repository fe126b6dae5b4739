"""Random interleavings of claim / pay / cancel / expire / restart, checked against every
invariant of the engine, on the in-memory store and on the real SQLite store."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.products import Sku
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.sqlite import SqliteStore

FANS = [f"fan_{i}" for i in range(6)]
KEYS = [f"key{i}" for i in range(8)]
SKUS = ["A", "B"]
LIMIT = 2
WINDOW = 60
BATCH = {"A": 4, "B": 2}
REFUSALS = (errors.Conflict, errors.InvalidInput, errors.NotFound)


class SaleMachine(RuleBasedStateMachine):
    sqlite = False

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.tmp = Path(tempfile.mkdtemp(prefix="soldout-prop-"))
        self.memory = InMemoryStore()
        self.platform = self._boot()
        skus = [Sku(c, c, Money(700, "EUR"), Money(500, "EUR")) for c in SKUS]
        product = self.run(self.platform.catalog.create_product("P", "", skus))
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

    def _boot(self) -> Platform:
        store: Any = (
            SqliteStore(self.tmp / "soldout.db") if self.sqlite else self.memory.crash_copy()
        )
        if not self.sqlite:
            self.memory = store
        platform = Platform(store, TokenSigner(b"s" * 32, "adm"), self.clock)
        self.run(platform.start(sweep=False))
        return platform

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

        async def one(fan: str, key: str, sku: str, qty: int, use_code: bool) -> None:
            code = self.codes[0] if use_code and sku == "A" and qty == 1 else None
            try:
                outcome = await self.platform.engine.claim(fan, self.launch_id, sku, qty, key, code)
            except REFUSALS:
                return
            claim = outcome.claim
            first = self.first_answer.setdefault((fan, key), claim.id)
            assert first == claim.id, "a retried key made a second claim"
            self.told[claim.id] = Claim(**{s: getattr(claim, s) for s in Claim.__slots__})

        async def burst() -> None:
            await asyncio.gather(*(one(*r) for r in requests))

        self.run(burst())

    def _pick(self, data: st.DataObject) -> Claim:
        """A told claim, drawn by its place in answer order (ids are random)."""
        told = list(self.told.values())
        return told[data.draw(st.integers(0, len(told) - 1))]

    @precondition(lambda self: self.told)
    @rule(data=st.data(), key=st.sampled_from(["p1", "p2"]))
    def pay(self, data: st.DataObject, key: str) -> None:
        claim = self._pick(data)
        try:
            order = self.run(self.platform.engine.pay(claim.fan_id, claim.id, "test", "t", key))
        except REFUSALS:
            return
        assert order.order.total == claim.unit_price * claim.quantity

    @precondition(lambda self: self.told)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        claim = self._pick(data)
        try:
            self.run(self.platform.engine.cancel(claim.fan_id, claim.id))
        except REFUSALS:
            return

    @rule(seconds=st.sampled_from([1, 30, WINDOW]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.run(self.platform.engine.expire_due())

    @rule()
    def restart(self) -> None:
        self.run(self.platform.stop())
        self.platform = self._boot()

    # -- invariants ------------------------------------------------------------------
    def _recorded(self) -> list[Claim]:
        return list(self.run(self.platform.store.claims.all()))

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
        live = Counter()
        for c in self._recorded():
            if c.state in (ClaimState.HELD, ClaimState.PAID):
                live[c.fan_id] += c.quantity
        assert max(live.values(), default=0) <= LIMIT

    @invariant()
    def paid_claims_have_one_order_and_orders_a_paid_claim(self) -> None:
        orders = list(self.run(self.platform.store.orders.all()))
        assert len({o.claim_id for o in orders}) == len(orders)
        states = {c.id: c.state for c in self._recorded()}
        assert sorted(o.claim_id for o in orders) == sorted(
            i for i, s in states.items() if s is ClaimState.PAID
        )


class SqliteSaleMachine(SaleMachine):
    sqlite = True


_settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestInMemory = SaleMachine.TestCase
TestInMemory.settings = _settings
TestSqlite = SqliteSaleMachine.TestCase
TestSqlite.settings = settings(_settings, max_examples=40)
