"""`soldout.scaleout.redis_allocator` against a real Redis server (tests/redis_server.py).

- A differential test: random sequences of claims (replays, codes, unknown SKUs, odd
  quantities, draws), releases, payments, refunds, reversed takes, codes set aside and
  expired, reservations, pauses, cancellations, time passing the opening and the close,
  and restarts from the record, applied both to the in-process `LaunchBook` (through
  `BookAllocator`, the way `Engine.claim` uses it) and to Redis: the same answers (the
  same refusal, class, code, field and message, the same replays) and the same counts
  after every step. Scenarios then walk the paths random sequences seldom reach (an
  any-SKU code buying another SKU, the order of refusals, boundaries of time).
- Concurrency: hundreds of takes with retries under repeated Idempotency-Keys, from
  several clients at once (one on another thread): never oversold, the per-fan limit
  holds, each key's retries get its first claim.
- Exactly once: concurrent double releases, settles and refunds of the same claims.
- A private three-node Redis Cluster: the same scripts, unchanged, each launch on one
  shard and the launches over all of them.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.crc import key_slot

from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch, LaunchRules, Mode
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.engine.book import LaunchBook
from soldout.engine.book_allocator import BookAllocator
from soldout.scaleout.redis_allocator import (
    RedisAllocator,
    SkuCounts,
    Taken,
    TakeRequest,
)
from soldout.scaleout.redis_registered import RedisScripts
from tests.redis_server import RedisServer, RedisSpace, RedisTarget

pytest_plugins = ["tests.redis_server"]

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
ALL_SKUS = ("A", "B", "C")
FANS = [f"fan_{i}" for i in range(4)]
KEYS = [f"key{i}" for i in range(3)]
T = TypeVar("T")


def product_of(skus: tuple[str, ...]) -> Product:
    return Product(
        "prd_1",
        "Model One",
        "",
        tuple(Sku(c, c, Money(1000, "EUR"), Money(900, "EUR")) for c in skus),
        T0,
    )


def launch_of(launch_id: str, batch: dict[str, int], **changes: Any) -> Launch:
    rules = changes.pop("rules", LaunchRules(per_fan_limit=2))
    opens = changes.pop("sale_opens_at", T0 - timedelta(seconds=1))
    return Launch(launch_id, "prd_1", "t", opens, rules, batch, T0, **changes)


def client_for(url: str) -> aioredis.Redis:
    """A worker's client: a bounded pool that waits for a free connection (redis-py's
    default pool raises past 100 connections in use)."""
    return aioredis.Redis.from_pool(
        aioredis.BlockingConnectionPool.from_url(url, max_connections=20)
    )


# --- the reference: the book, as `Engine.claim` and the engine's other parts use it ------

Answer = tuple[Any, ...]


def refused(error: errors.DomainError) -> Answer:
    return ("refused", type(error).__name__, error.code, error.field, error.message)


class BookSide:
    """The in-process book through `BookAllocator`, with the engine's steps around it (the
    replay first, the refusal from memory, the claim remembered, its code redeemed) and a
    ledger of the claims as the record would have them."""

    def __init__(self, launch: Launch, product: Product) -> None:
        self.book = LaunchBook.open(launch, product)
        self.alloc = BookAllocator({launch.id: self.book})
        self.claims: dict[str, Claim] = {}  # the record, in the order made
        self.codes: dict[str, PriorityCode] = {}

    @property
    def launch(self) -> Launch:
        return self.book.launch

    def take(self, r: TakeRequest, now: datetime) -> Answer:
        launch_id = self.launch.id
        first = self.alloc.replay(r.fan_id, launch_id, r.idempotency_key)
        try:
            if first is not None:
                if not first.same_request(launch_id, r.sku, r.quantity, r.code):
                    raise errors.IdempotencyKeyReused(field="Idempotency-Key")
                return ("taken", first.id, True)
            if r.code is None and not r.drawn:
                refusal = self.book.refusal(r.sku, now)
                if refusal is not None:
                    raise refusal
            self.alloc.take(launch_id, r.fan_id, r.sku, r.quantity, now, r.code, drawn=r.drawn)
        except errors.DomainError as error:
            return refused(error)
        claim = Claim(
            r.claim_id,
            launch_id,
            r.fan_id,
            r.sku,
            r.quantity,
            1000,
            "EUR",
            now,
            now + timedelta(minutes=15),
            r.idempotency_key,
            priority_code=r.code,
        )
        if r.code is not None:
            self.alloc.redeem(claim)
        self.alloc.remember(claim)
        self.claims[claim.id] = claim
        return ("taken", claim.id, False)

    def move(self, op: str, claim_id: str, state: ClaimState | None = None) -> bool:
        claim = self.claims[claim_id]
        if op == "untake":  # Ledger.strike: the claim never happened
            was_held = claim.is_held
            del self.claims[claim_id]
            self.alloc.forget(claim)
            self.alloc.untake(claim)
            return was_held
        wanted = ClaimState.PAID if op in ("unsettle", "unsell") else ClaimState.HELD
        if claim.state is not wanted:
            return False
        if op == "release":
            assert state is not None
            self.alloc.release(claim, state)
            claim.state = state
        elif op == "settle":
            self.alloc.settle(claim)
            claim.state = ClaimState.PAID
        elif op == "unsettle":
            self.alloc.unsettle(claim)
            claim.state = ClaimState.HELD
        else:
            self.alloc.unsell(claim)
            claim.state = ClaimState.CANCELLED
        return True

    def counts(self) -> dict[str, SkuCounts]:
        return {
            sku: SkuCounts(s.batch, s.available, s.set_aside, s.held, s.paid)
            for sku, s in self.book.stock.items()
        }

    def restart(self, now: datetime) -> None:
        """`Engine.load`: a new book, counted from the record (codes, then claims)."""
        old = self.book
        self.book = LaunchBook.open(old.launch, old.product)
        self.book.reservations = dict(old.reservations)
        self.alloc = BookAllocator({old.launch.id: self.book})
        for code in self.codes.values():
            self.alloc.restore_code(code, now)
        for claim in self.claims.values():  # Ledger.restore
            first = self.alloc.replay(claim.fan_id, claim.launch_id, claim.idempotency_key)
            self.alloc.remember(first or claim)
            self.alloc.restore(claim)


# --- the differential machine --------------------------------------------------------------


class Runner:
    """Runs the Redis side's coroutines on one event loop, from Hypothesis's sync steps."""

    def __init__(self, space: RedisSpace) -> None:
        self.loop = asyncio.new_event_loop()
        self.space = space
        self.client = client_for(space.url)
        self.scripts = RedisScripts(self.client)
        self.launches = itertools.count()

    def __call__(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def allocator(self) -> RedisAllocator:
        launch_id = f"lch_{next(self.launches)}"
        return RedisAllocator(
            self.client, launch_id, prefix=self.space.prefix, scripts=self.scripts
        )

    def close(self) -> None:
        self(self.client.aclose())
        self.loop.close()


take_requests = st.tuples(
    st.sampled_from(FANS),
    st.integers(0, 6),  # a SKU of the launch, by index; 6: "Z", which it does not sell
    st.sampled_from([1, 1, 1, 1, 2, 3, 0]),
    st.sampled_from(KEYS),
    st.one_of(st.none(), st.none(), st.none(), st.integers(0, 4)),  # an issued code; "NOPE"
    st.sampled_from([False] * 9 + [True]),  # drawn
)


class SaleMachine(RuleBasedStateMachine):
    runner: Runner

    def __init__(self) -> None:
        super().__init__()
        self.redis = self.runner.allocator()
        self.ids = itertools.count()
        self.now = T0
        self.sent: list[TakeRequest] = []
        self.last: Answer = ()

    @initialize(
        batch=st.lists(st.integers(0, 5), min_size=1, max_size=3),
        limit=st.integers(1, 3),
        draw=st.sampled_from([False] * 4 + [True]),
        reservation=st.sampled_from([False, False, True]),
        opens_in=st.sampled_from([-10, -10, -10, 0, 5]),
        closes_after=st.sampled_from([None, None, None, 600]),
        published=st.sampled_from([True] * 9 + [False]),
    )
    def load(
        self,
        batch: list[int],
        limit: int,
        draw: bool,
        reservation: bool,
        opens_in: int,
        closes_after: int | None,
        published: bool,
    ) -> None:
        skus = ALL_SKUS[: len(batch)]
        opens = T0 + timedelta(seconds=opens_in)
        rules = LaunchRules(
            mode=Mode.DRAW if draw else Mode.FIRST_COME,
            per_fan_limit=limit,
            reservation_required=reservation,
        )
        launch = launch_of(
            self.redis.launch_id,
            dict(zip(skus, batch, strict=True)),
            rules=rules,
            sale_opens_at=opens,
            sale_closes_at=None
            if closes_after is None
            else opens + timedelta(seconds=closes_after),
            published=published,
        )
        self.book = BookSide(launch, product_of(skus))
        assert self.runner(self.redis.load(launch, now=self.now))

    def request(self, spec: tuple[Any, ...]) -> TakeRequest:
        fan, sku_index, quantity, key, code, drawn = spec
        skus = list(self.book.launch.batch)
        sku = "Z" if sku_index == 6 else skus[sku_index % len(skus)]
        if code is not None:
            names = list(self.book.codes)
            code = names[code] if code < len(names) else "NOPE" if code == 4 else None
            if code in self.book.codes and sku_index < 3:  # mostly for the code's own SKU
                sku = self.book.codes[code].sku
        return TakeRequest(fan, sku, quantity, key, f"clm_{next(self.ids)}", code, drawn)

    def redis_answer(self, answer: Taken | errors.DomainError) -> Answer:
        if isinstance(answer, errors.DomainError):
            return refused(answer)
        return ("taken", answer.claim_id, answer.replayed)

    # -- claims ----------------------------------------------------------------------------
    def send(self, r: TakeRequest) -> None:
        self.sent.append(r)
        expected = self.last = self.book.take(r, self.now)
        try:
            taken = self.runner(
                self.redis.take(
                    r.fan_id,
                    r.sku,
                    r.quantity,
                    self.now,
                    r.idempotency_key,
                    r.claim_id,
                    r.code,
                    drawn=r.drawn,
                )
            )
        except errors.DomainError as error:
            got = refused(error)
        else:
            got = self.redis_answer(taken)
        assert got == expected

    @rule(spec=take_requests)
    def take(self, spec: tuple[Any, ...]) -> None:
        self.send(self.request(spec))

    @precondition(lambda self: self.sent)
    @rule(index=st.integers(0, 100), same=st.sampled_from([True, True, True, False]))
    def retry(self, index: int, same: bool) -> None:
        """A request sent again under its key (after its claim was released, paid,
        reversed...): the first claim, or a fresh decision; `same=False`: another ask
        under the same key."""
        r = self.sent[index % len(self.sent)]
        r = replace(r, claim_id=f"clm_{next(self.ids)}")
        self.send(r if same else replace(r, quantity=r.quantity + 1))

    @precondition(lambda self: self.book.codes)
    @rule(
        fan=st.sampled_from(FANS),
        key=st.sampled_from(KEYS),
        index=st.integers(0, 100),
        other_sku=st.integers(0, 3),
    )
    def take_with_a_code(self, fan: str, key: str, index: int, other_sku: int) -> None:
        """A code redeemed for one unit (the random claims seldom hit one): of its own SKU,
        or (`other_sku` > 0) of another one (an any-SKU code's unit goes back)."""
        names = list(self.book.codes)
        code = names[index % len(names)]
        skus = list(self.book.launch.batch)
        sku = skus[(skus.index(self.book.codes[code].sku) + other_sku) % len(skus)]
        self.send(TakeRequest(fan, sku, 1, key, f"clm_{next(self.ids)}", code))

    @rule(specs=st.lists(take_requests, min_size=2, max_size=4))
    def take_a_micro_batch(self, specs: list[tuple[Any, ...]]) -> None:
        requests = [self.request(spec) for spec in specs]
        self.sent += requests
        expected = [self.book.take(r, self.now) for r in requests]
        got = self.runner(self.redis.take_many(requests, self.now))
        assert [self.redis_answer(a) for a in got] == expected

    def pick(self, index: int) -> str:
        ids = list(self.book.claims)
        return ids[index % len(ids)]

    @precondition(lambda self: self.book.claims)
    @rule(
        index=st.integers(0, 100), state=st.sampled_from([ClaimState.EXPIRED, ClaimState.CANCELLED])
    )
    def release(self, index: int, state: ClaimState) -> None:
        claim_id = self.pick(index)
        assert self.runner(self.redis.release(claim_id, state)) == self.book.move(
            "release", claim_id, state
        )
        assert self.runner(self.redis.claim_state(claim_id)) == self.book.claims[claim_id].state

    @precondition(lambda self: self.book.claims)
    @rule(
        index=st.integers(0, 100),
        op=st.sampled_from(["settle", "settle", "unsettle", "unsell", "untake"]),
    )
    def move(self, index: int, op: str) -> None:
        claim_id = self.pick(index)
        moves: dict[str, Callable[[str], Awaitable[bool]]] = {
            "settle": self.redis.settle,
            "unsettle": self.redis.unsettle,
            "unsell": self.redis.unsell,
            "untake": self.redis.untake,
        }
        assert self.runner(moves[op](claim_id)) == self.book.move(op, claim_id)

    # -- codes -----------------------------------------------------------------------------
    @rule(
        sku=st.sampled_from([None, None, *ALL_SKUS]),  # "C" is unknown to some launches
        count=st.integers(0, 3),
        lasts=st.sampled_from([None, 30, 300]),
        any_sku=st.booleans(),
    )
    def issue_codes(self, sku: str | None, count: int, lasts: int | None, any_sku: bool) -> None:
        launch_id = self.redis.launch_id
        try:
            expected: Any = self.book.alloc.set_aside(launch_id, sku, count)
        except errors.DomainError as error:
            expected = refused(error)
        try:
            got: Any = self.runner(self.redis.set_aside(sku, count))
        except errors.DomainError as error:
            got = refused(error)
        assert got == expected
        if isinstance(got, tuple):
            return
        expires = None if lasts is None else self.now + timedelta(seconds=lasts)
        start = len(self.book.codes)
        names = [f"F-{start + i}" for i in range(len(got))]

        def made() -> list[PriorityCode]:  # each side gets its own (the book changes them)
            return [
                PriorityCode(n, launch_id, s, self.now, expires_at=expires, any_sku=any_sku)
                for n, s in zip(names, got, strict=True)
            ]

        book_codes = made()
        self.book.alloc.add_codes(book_codes)
        self.book.codes.update((c.code, c) for c in book_codes)
        self.runner(self.redis.add_codes(made()))

    @precondition(lambda self: self.book.codes)
    @rule(index=st.integers(0, 100))
    def expire_code(self, index: int) -> None:
        names = list(self.book.codes)
        code = names[index % len(names)]
        for _ in range(2):  # a unit goes back once
            expected = self.book.alloc.expire_code(self.redis.launch_id, code, self.now)
            assert self.runner(self.redis.expire_code(code, self.now)) == expected

    # -- the launch and time ---------------------------------------------------------------
    @rule(fan=st.sampled_from(FANS))
    def reserve(self, fan: str) -> None:
        self.book.book.reservations[fan] = Reservation(
            f"rsv_{fan}", self.redis.launch_id, fan, self.now
        )
        self.runner(self.redis.reserve(fan))

    @rule(
        change=st.sampled_from(["pause", "resume", "resume", "resume", "publish", "grow", "cancel"])
    )
    def change_launch(self, change: str) -> None:
        launch = self.book.launch
        if change == "pause":
            launch = replace(launch, paused_at=self.now)
        elif change == "resume":
            launch = replace(launch, paused_at=None)
        elif change == "cancel":
            launch = replace(launch, cancelled_at=self.now)
        elif change == "publish":
            launch = replace(launch, published=True)
        elif change == "shrink":  # (the engine refuses it; `SkuStock.grow` ignores it)
            launch = replace(launch, batch={sku: qty - 1 for sku, qty in launch.batch.items()})
            for sku, qty in launch.batch.items():
                self.book.book.stock[sku].grow(qty)
        else:
            launch = replace(launch, batch={sku: qty + 1 for sku, qty in launch.batch.items()})
            for sku, qty in launch.batch.items():
                self.book.book.stock[sku].grow(qty)
        self.book.book.launch = launch
        self.runner(self.redis.update(launch))

    @rule(seconds=st.sampled_from([1, 10, 30, 100, 700]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def restart(self) -> None:
        """Both rebuilt from the record: the claims as the ledger has them, the codes."""
        self.book.restart(self.now)
        loaded = self.redis.load(
            self.book.launch,
            now=self.now,
            reserved=list(self.book.book.reservations),
            codes=list(self.book.codes.values()),
            claims=list(self.book.claims.values()),
            replace=True,
        )
        assert self.runner(loaded)

    # -- after every step ------------------------------------------------------------------
    @invariant()
    def same_counts(self) -> None:
        if not hasattr(self, "book"):
            return
        counts = self.runner(self.redis.counts())
        assert counts == self.book.counts()
        assert all(c.available >= 0 for c in counts.values())
        assert self.runner(self.redis.fan_units()) == self.book.book.fan_units

    def teardown(self) -> None:
        self.runner(self.redis.drop())


@pytest.fixture
def runner(redis_space: RedisSpace) -> Iterator[Runner]:
    runner = Runner(redis_space)
    SaleMachine.runner = runner
    yield runner
    runner.close()


def test_redis_decides_what_the_book_decides(runner: Runner) -> None:
    run_state_machine_as_test(
        SaleMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


ON_SALE: dict[str, Any] = {
    "batch": [3],
    "limit": 2,
    "draw": False,
    "reservation": False,
    "opens_in": -10,
    "closes_after": None,
    "published": True,
}
FAN, KEY = FANS[0], KEYS[0]

# Paths the random sequences reach too seldom to be sure of in one run: each step is a
# rule of `SaleMachine` (so both sides answer it alike, and the counts are compared after
# every one), with what a claim step must come to: "taken", "replay" or a refusal's code.
Step = tuple[str, dict[str, Any], str | None]
TAKE_A = (FAN, 0, 1, KEY, None, False)
SCENARIOS: dict[str, list[Step]] = {
    "an any-SKU code buys another SKU, its own unit goes back": [
        ("load", {**ON_SALE, "batch": [1, 3]}, None),
        ("issue_codes", {"sku": None, "count": 1, "lasts": None, "any_sku": True}, None),  # B
        ("take_with_a_code", {"fan": FAN, "key": KEY, "index": 0, "other_sku": 1}, "taken"),
        ("take", {"spec": (FANS[1], 0, 1, KEY, None, False)}, "sold_out"),
        ("retry", {"index": 0, "same": True}, "replay"),
        ("untake", {"index": 0}, None),  # its write failed: the code stands for A's unit now
        ("take_with_a_code", {"fan": FAN, "key": KEY, "index": 0, "other_sku": 0}, "taken"),
    ],
    "an any-SKU code cannot buy a sold-out SKU": [
        ("load", {**ON_SALE, "batch": [0, 2]}, None),
        ("issue_codes", {"sku": None, "count": 1, "lasts": None, "any_sku": True}, None),
        ("take_with_a_code", {"fan": FAN, "key": KEY, "index": 0, "other_sku": 1}, "sold_out"),
    ],
    "only fans who reserved may claim, or with a code": [
        ("load", {**ON_SALE, "reservation": True}, None),
        ("take", {"spec": TAKE_A}, "reservation_required"),
        ("reserve", {"fan": FAN}, None),
        ("take", {"spec": TAKE_A}, "taken"),
        ("issue_codes", {"sku": "A", "count": 1, "lasts": None, "any_sku": False}, None),
        ("take_with_a_code", {"fan": FANS[1], "key": KEY, "index": 0, "other_sku": 0}, "taken"),
    ],
    "sold out is answered before the limit, a code before the phase": [
        ("load", {**ON_SALE, "batch": [0, 1], "limit": 1}, None),
        ("take", {"spec": (FAN, 0, 3, KEY, None, False)}, "sold_out"),
        ("take", {"spec": (FAN, 1, 3, KEY, None, False)}, "limit_reached"),
        ("take", {"spec": (FAN, 1, 0, KEY, None, False)}, "insufficient_stock"),
        ("take", {"spec": (FAN, 6, 1, KEY, None, False)}, "invalid"),
        ("change_launch", {"change": "cancel"}, None),
        ("take", {"spec": (FAN, 0, 1, KEY, 4, False)}, "invalid_code"),
        ("take", {"spec": TAKE_A}, "closed"),
    ],
    "a code expires once, and stays spent once redeemed": [
        ("load", {**ON_SALE, "batch": [2]}, None),
        ("issue_codes", {"sku": "A", "count": 2, "lasts": 30, "any_sku": False}, None),
        ("take_with_a_code", {"fan": FAN, "key": KEY, "index": 0, "other_sku": 0}, "taken"),
        ("time_passes", {"seconds": 30}, None),
        ("expire_code", {"index": 0}, None),
        ("expire_code", {"index": 1}, None),
        (
            "take_with_a_code",
            {"fan": FANS[1], "key": KEY, "index": 1, "other_sku": 0},
            "code_expired",
        ),
        ("restart", {}, None),
        (
            "take_with_a_code",
            {"fan": FANS[1], "key": KEY, "index": 0, "other_sku": 0},
            "code_spent",
        ),
    ],
    "a draw's claims come only from its draw": [
        ("load", {**ON_SALE, "draw": True, "reservation": True}, None),
        ("take", {"spec": TAKE_A}, "draw_only"),
        ("take", {"spec": (FAN, 0, 1, KEY, None, True)}, "taken"),  # no reservation asked
        ("change_launch", {"change": "pause"}, None),
        ("take", {"spec": (FANS[1], 0, 1, KEY, None, True)}, "paused"),
    ],
    "a draw's any-SKU code buys its own unit, never another SKU's": [
        ("load", {**ON_SALE, "batch": [1, 3], "draw": True}, None),
        ("issue_codes", {"sku": None, "count": 1, "lasts": None, "any_sku": True}, None),  # B
        ("take_with_a_code", {"fan": FAN, "key": KEY, "index": 0, "other_sku": 1}, "draw_only"),
        ("take_with_a_code", {"fan": FAN, "key": KEY, "index": 0, "other_sku": 0}, "taken"),
    ],
    "the sale opens and closes on the microsecond": [
        ("load", {**ON_SALE, "opens_in": 5, "closes_after": 600}, None),
        ("take", {"spec": TAKE_A}, "not_open"),
        ("time_passes", {"seconds": 5}, None),
        ("take", {"spec": (FANS[1], 0, 1, KEY, None, False)}, "taken"),
        ("time_passes", {"seconds": 599}, None),
        ("take", {"spec": TAKE_A}, "taken"),
        ("time_passes", {"seconds": 1}, None),
        ("take", {"spec": (FANS[2], 0, 1, KEY, None, False)}, "closed"),
    ],
    "a refund before shipping opens the units and the allowance again": [
        ("load", {**ON_SALE, "batch": [2], "limit": 2}, None),
        ("take", {"spec": (FAN, 0, 2, KEY, None, False)}, "taken"),
        ("move", {"index": 0, "op": "settle"}, None),
        ("move", {"index": 0, "op": "unsettle"}, None),
        ("move", {"index": 0, "op": "settle"}, None),
        ("move", {"index": 0, "op": "unsell"}, None),
        ("move", {"index": 0, "op": "unsell"}, None),
        ("take", {"spec": (FAN, 0, 2, KEYS[1], None, False)}, "taken"),
    ],
    "a batch grows but never shrinks": [
        ("load", {**ON_SALE, "batch": [1, 1]}, None),
        ("take", {"spec": TAKE_A}, "taken"),
        ("change_launch", {"change": "grow"}, None),
        ("change_launch", {"change": "shrink"}, None),
        ("take", {"spec": (FANS[1], 0, 1, KEY, None, False)}, "taken"),
    ],
    "a key asking for something else is refused": [
        ("load", {**ON_SALE}, None),
        ("take", {"spec": TAKE_A}, "taken"),
        ("retry", {"index": 0, "same": False}, "idempotency_key_reused"),
        ("release", {"index": 0, "state": ClaimState.EXPIRED}, None),
        ("retry", {"index": 0, "same": True}, "replay"),  # the expired claim, still
    ],
}


def outcome(answer: Answer) -> str:
    if answer[0] == "taken":
        return "replay" if answer[2] else "taken"
    return str(answer[2])


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_paths_seldom_drawn_decide_alike(runner: Runner, steps: list[Step]) -> None:
    machine = SaleMachine()
    try:
        for name, args, expected in steps:
            machine.last = ()
            if name == "untake":
                machine.move(args["index"], "untake")
            else:
                getattr(machine, name)(**args)
            machine.same_counts()
            if expected is not None:
                assert outcome(machine.last) == expected, name
    finally:
        machine.teardown()


def test_a_restored_key_replays_to_its_first_claim(runner: Runner) -> None:
    """Two claims on record under one key (never made by the engine; the store allows it):
    both are counted, and the first keeps the key, on both sides."""
    machine = SaleMachine()
    try:
        machine.load(**ON_SALE)
        launch_id = machine.redis.launch_id
        for claim_id in ("clm_first", "clm_second"):
            machine.book.claims[claim_id] = Claim(
                claim_id, launch_id, FAN, "A", 1, 1000, "EUR", T0, T0 + timedelta(minutes=15), KEY
            )
        machine.restart()
        machine.same_counts()
        machine.send(TakeRequest(FAN, "A", 1, KEY, "clm_third"))
        assert machine.runner(machine.redis.replay(FAN, KEY)) == "clm_first"
    finally:
        machine.teardown()


# --- targeted checks -----------------------------------------------------------------------


@pytest.fixture
async def client(redis_space: RedisSpace) -> AsyncIterator[aioredis.Redis]:
    c = client_for(redis_space.url)
    yield c
    await c.aclose()


async def loaded(
    client: aioredis.Redis, space: RedisSpace, batch: dict[str, int], **changes: Any
) -> RedisAllocator:
    allocator = RedisAllocator(client, "lch_1", prefix=space.prefix)
    assert await allocator.load(launch_of("lch_1", batch, **changes), now=T0)
    return allocator


async def test_all_keys_of_a_launch_share_one_hash_slot(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    allocator = await loaded(client, redis_space, {"A": 1})
    assert len({key_slot(k.encode()) for k in allocator.keys}) == 1
    assert all("{lch_1}" in k for k in allocator.keys)
    with pytest.raises(ValueError, match="brace"):
        RedisAllocator(client, "lch_{1}")


async def test_a_launch_is_loaded_once_and_refuses_claims_until_then(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    missing = RedisAllocator(client, "lch_9", prefix=redis_space.prefix)
    with pytest.raises(errors.StorageUnavailable):
        await missing.take("fan_1", "A", 1, T0, "k", "clm_1")
    allocator = await loaded(client, redis_space, {"A": 2})
    again = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert not await again.load(launch_of("lch_1", {"A": 2}), now=T0)  # another worker's
    taken = await allocator.take("fan_1", "A", 1, T0, "k", "clm_1")
    assert taken == Taken("clm_1", replayed=False)
    with pytest.raises(errors.Conflict, match="taken already"):
        await allocator.take("fan_2", "A", 1, T0, "k", "clm_1")
    with pytest.raises(errors.IdempotencyKeyReused):
        await allocator.take("fan_1", "A", 2, T0, "k", "clm_2")
    assert await allocator.replay("fan_1", "k") == "clm_1"


async def test_a_lost_script_cache_is_loaded_again(
    client: aioredis.Redis, redis_space: RedisSpace, redis_server: RedisTarget
) -> None:
    """EVALSHA answers NOSCRIPT after a restart or a failover: the script is sent again."""
    if not isinstance(redis_server, RedisServer):
        pytest.skip("flushes the script cache: only on a private server")
    allocator = await loaded(client, redis_space, {"A": 2})
    await allocator.take("fan_1", "A", 1, T0, "k1", "clm_1")
    await client.script_flush()
    await allocator.take("fan_2", "A", 1, T0, "k2", "clm_2")
    assert (await allocator.counts())["A"].held == 2


async def test_withdrawn_codes_open_their_units_again(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    allocator = await loaded(client, redis_space, {"A": 2, "B": 2})
    # unit after unit, the SKU with the most open; a tie goes to the first
    assert await allocator.set_aside(None, 3) == ["A", "B", "A"]
    codes = [PriorityCode(f"F-{i}", "lch_1", s, T0) for i, s in enumerate(["A", "B", "A"])]
    await allocator.add_codes(codes)
    await allocator.withdraw_codes(codes[1:])
    counts = await allocator.counts()
    assert (counts["A"].set_aside, counts["B"].set_aside) == (1, 0)
    with pytest.raises(errors.InvalidInput, match="no such priority code"):
        await allocator.take("fan_1", "B", 1, T0, "k", "clm_1", "F-1")
    assert await allocator.take("fan_1", "A", 1, T0, "k", "clm_1", "F-0")


# --- concurrency ---------------------------------------------------------------------------


def in_thread(url: str, work: Callable[[aioredis.Redis], Awaitable[T]]) -> Awaitable[T]:
    """`work` with a client of its own on an event loop of its own, on another thread."""

    def run() -> T:
        async def main() -> T:
            async with client_for(url) as client:
                return await work(client)

        return asyncio.run(main())

    return asyncio.to_thread(run)


async def test_concurrent_takes_never_oversell_and_replay_the_first_claim(
    redis_space: RedisSpace,
) -> None:
    batch, limit = {"A": 30, "B": 20}, 2
    fans = [f"fan_{i}" for i in range(120)]
    rng = random.Random(7)
    # each fan asks twice (two keys), each key sent three times (one request per key, as
    # retries are): 720 takes for 50 units
    asks = {
        (fan, key): (rng.choice("AB"), rng.choice([1, 1, 2]))
        for fan in fans
        for key in ("k1", "k2")
    }
    requests = [(fan, key, *ask) for (fan, key), ask in asks.items() for _ in range(3)]
    rng.shuffle(requests)
    attempt = itertools.count()
    answers: list[tuple[str, str, Taken | str]] = []

    async def send(client: aioredis.Redis, share: list[tuple[str, str, str, int]]) -> None:
        allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)

        async def one(fan: str, key: str, sku: str, quantity: int) -> None:
            try:
                taken = await allocator.take(fan, sku, quantity, T0, key, f"clm_{next(attempt)}")
            except errors.DomainError as error:
                answers.append((fan, key, error.code))
            else:
                answers.append((fan, key, taken))

        await asyncio.gather(*(one(*r) for r in share))

    async with (
        client_for(redis_space.url) as one,
        client_for(redis_space.url) as two,
    ):
        allocator = await loaded(one, redis_space, batch, rules=LaunchRules(per_fan_limit=limit))
        await asyncio.gather(
            send(one, requests[0::3]),
            send(two, requests[1::3]),
            in_thread(redis_space.url, lambda c: send(c, requests[2::3])),
        )
        counts = await allocator.counts()
        fan_units = await allocator.fan_units()

    assert len(answers) == len(requests) == 720
    assert sum(c.held for c in counts.values()) == 50  # demand was far above the batch
    assert all(c.available == 0 and c.held == batch[sku] for sku, c in counts.items())
    assert max(fan_units.values()) <= limit
    by_key: dict[tuple[str, str], list[Taken]] = defaultdict(list)
    for fan, key, answer in answers:
        if isinstance(answer, Taken):
            by_key[fan, key].append(answer)
        else:
            assert answer in {"sold_out", "insufficient_stock", "limit_reached"}
    held_by_fan: Counter[str] = Counter()
    for (fan, key), taken in by_key.items():
        assert len({t.claim_id for t in taken}) == 1  # every retry: the first claim
        assert sum(not t.replayed for t in taken) == 1  # taken once
        held_by_fan[fan] += asks[fan, key][1]
    assert dict(held_by_fan) == fan_units


async def test_a_claim_is_released_exactly_once_under_concurrent_releases(
    redis_space: RedisSpace,
) -> None:
    n = 60
    async with (
        client_for(redis_space.url) as one,
        client_for(redis_space.url) as two,
    ):
        allocator = await loaded(one, redis_space, {"A": n}, rules=LaunchRules(per_fan_limit=1))
        for i in range(n):
            await allocator.take(f"fan_{i}", "A", 1, T0, "k", f"clm_{i}")
        other = RedisAllocator(two, "lch_1", prefix=redis_space.prefix)

        async def race(i: int) -> list[bool]:
            claim = f"clm_{i}"
            return list(
                await asyncio.gather(
                    allocator.release(claim, ClaimState.EXPIRED),
                    other.release(claim, ClaimState.EXPIRED),
                    other.release(claim, ClaimState.CANCELLED),
                    allocator.settle(claim),
                    other.settle(claim),
                )
            )

        outcomes = await asyncio.gather(*(race(i) for i in range(n)))
        assert all(sum(won) == 1 for won in outcomes)
        paid = [f"clm_{i}" for i, won in enumerate(outcomes) if won[3] or won[4]]
        counts = (await allocator.counts())["A"]
        assert (counts.held, counts.paid, counts.available) == (0, len(paid), n - len(paid))
        assert sum((await allocator.fan_units()).values()) == len(paid)

        # refunds before shipping, twice over from two clients: the units come back once
        refunds = await asyncio.gather(
            *(a.unsell(c) for c in paid for a in (allocator, other, allocator))
        )
        assert sum(refunds) == len(paid)
        counts = (await allocator.counts())["A"]
        assert (counts.held, counts.paid, counts.available) == (0, 0, n)
        assert await allocator.fan_units() == {}
        states = await asyncio.gather(*(allocator.claim_state(f"clm_{i}") for i in range(n)))
        assert set(states) <= {"expired", "cancelled"}


def test_the_private_server_is_not_the_shared_one(redis_server: RedisTarget) -> None:
    if isinstance(redis_server, RedisServer):
        assert redis_server.port != 6379
        assert redis_server.root.exists()


# --- a Redis Cluster -----------------------------------------------------------------------


async def test_launches_spread_over_a_cluster_and_decide_unchanged(
    redis_cluster_space: RedisSpace,
) -> None:
    """The same scripts through a cluster client: each launch's keys on one shard (no
    CROSSSLOT), the launches over all shards, the scripts loaded on each on first use."""
    from redis.asyncio.cluster import RedisCluster

    space = redis_cluster_space
    async with RedisCluster.from_url(space.url) as cluster:
        scripts = RedisScripts(cluster)
        allocators = [
            RedisAllocator(cluster, f"lch_{i}", prefix=space.prefix, scripts=scripts)
            for i in range(12)
        ]
        nodes = set()
        for allocator in allocators:
            slot = key_slot(allocator.keys[0].encode())
            assert {key_slot(k.encode()) for k in allocator.keys} == {slot}
            node = cluster.get_node_from_key(allocator.keys[0])
            assert node is not None
            nodes.add(node.port)
            launch = launch_of(allocator.launch_id, {"A": 5}, rules=LaunchRules(per_fan_limit=1))
            assert await allocator.load(launch, now=T0)
        assert len(nodes) == 3  # twelve launches, over all three shards

        async def sell(allocator: RedisAllocator) -> list[Taken | errors.DomainError]:
            requests = [TakeRequest(f"fan_{i}", "A", 1, "k", f"clm_{i}") for i in range(8)]
            singles = [allocator.take_many([r], T0) for r in requests]
            batch = allocator.take_many(requests, T0)  # every one a replay now, or refused
            return [a for answers in await asyncio.gather(*singles, batch) for a in answers]

        sold = await asyncio.gather(*(sell(a) for a in allocators))
        for allocator, answers in zip(allocators, sold, strict=True):
            taken = [a for a in answers if isinstance(a, Taken)]
            assert len({t.claim_id for t in taken}) == 5
            assert all(isinstance(a, errors.SoldOut) for a in answers if a not in taken)
            assert (await allocator.counts())["A"] == SkuCounts(5, 0, 0, 5, 0)
            assert await allocator.release(taken[0].claim_id, ClaimState.EXPIRED)
            assert not await allocator.release(taken[0].claim_id, ClaimState.CANCELLED)
            assert (await allocator.counts())["A"] == SkuCounts(5, 1, 0, 4, 0)
            await allocator.drop()
