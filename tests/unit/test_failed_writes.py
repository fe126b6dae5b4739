"""What happens when the record cannot be written, and the order writes are issued in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState
from soldout.payments import TestPayments
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore, MemoryTransaction
from soldout.store.sqlite import SqliteStore
from tests.unit.conftest import open_launch


class FlakyStore(InMemoryStore):
    """Records the order writes are issued in; can be told to fail claim writes, and to
    fail or hold the transaction that settles a claim (its order)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.fail_claims = False
        self.fail_settle = False
        self.settle_gate: asyncio.Future[None] | None = None
        self.last_settle: asyncio.Future[None] | None = None
        self.settling = asyncio.Event()
        self.before_commit = self._settling
        claims = self.claims
        add, release = claims.add, claims.release_many

        def add_claim(claim: Claim) -> asyncio.Future[None]:
            self.log.append(f"claim {claim.fan_id}")
            if self.fail_claims:
                failed = asyncio.get_running_loop().create_future()
                failed.set_exception(errors.StorageUnavailable())
                return failed
            return add(claim)

        def release_many(ids: object, state: ClaimState, at: datetime) -> asyncio.Future[None]:
            self.log.append(f"release {state.value}")
            return release(ids, state, at)  # type: ignore[arg-type]

        claims.add = add_claim  # type: ignore[method-assign]
        claims.release_many = release_many  # type: ignore[method-assign]

    def _settling(self, tx: MemoryTransaction) -> Awaitable[None] | None:
        if "claims.settle" not in tx.writes:
            return None
        if self.settle_gate is not None:  # written only when the test opens the gate
            self.last_settle = tx.durable
            self.settling.set()
            return self.settle_gate
        if self.fail_settle:
            raise errors.StorageUnavailable()
        return None


async def refunds(payments: TestPayments) -> int:
    """How many payments the provider gave back (refunded, or released before capture)."""
    return sum(1 for t in await payments.transactions() if t.status in ("refunded", "voided"))


@pytest.fixture
async def flaky(clock: FakeClock) -> tuple[Platform, FlakyStore, TestPayments]:
    store, payments = FlakyStore(), TestPayments(secret=b"flaky")
    platform = Platform(store, TokenSigner(b"k" * 32, "a"), clock, payments)
    await platform.start(sweep=False)
    return platform, store, payments


async def test_a_claim_that_was_not_written_never_happened(
    flaky: tuple[Platform, FlakyStore, TestPayments], clock: FakeClock
) -> None:
    platform, store, _ = flaky
    book = await open_launch(platform, batch={"A": 1}, payment_window_seconds=60)
    [code] = await platform.catalog.issue_codes(book.launch.id, "A", 1)
    store.fail_claims = True
    with pytest.raises(errors.StorageUnavailable):
        await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k", code.code)
    stock = book.stock["A"]
    assert (stock.held, stock.set_aside, stock.available) == (0, 1, 0)
    assert not code.is_spent
    assert book.fan_units == {}
    clock.advance(61)
    assert await platform.engine.expire_due() == 0  # nothing left behind to expire
    store.fail_claims = False
    again = await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k", code.code)
    assert not again.replayed  # decided afresh, not a replay of something never written


async def test_a_payment_that_was_not_written_is_refunded_and_the_claim_still_held(
    flaky: tuple[Platform, FlakyStore, TestPayments],
) -> None:
    platform, store, payments = flaky
    book = await open_launch(platform)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    store.fail_settle = True
    with pytest.raises(errors.StorageUnavailable):
        await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    assert await refunds(payments) == 1
    assert claim.state is ClaimState.HELD
    assert (book.stock["A"].held, book.stock["A"].paid) == (1, 0)
    store.fail_settle = False
    order = await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    assert not order.replayed


async def test_two_payments_of_one_claim_charge_once(
    flaky: tuple[Platform, FlakyStore, TestPayments],
) -> None:
    platform, _, payments = flaky
    book = await open_launch(platform)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    first, second = await asyncio.gather(
        platform.engine.pay("fan_1", claim.id, "test", "tok", "p"),
        platform.engine.pay("fan_1", claim.id, "test", "tok", "p"),
    )
    assert first.order == second.order
    assert (first.replayed, second.replayed) == (False, True)
    assert await refunds(payments) == 0


async def test_a_lazy_expiry_is_queued_before_the_claim_that_takes_its_unit(
    flaky: tuple[Platform, FlakyStore, TestPayments], clock: FakeClock
) -> None:
    platform, store, _ = flaky
    book = await open_launch(platform, batch={"A": 1}, payment_window_seconds=60)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    clock.advance(61)
    with pytest.raises(errors.ClaimExpired):
        await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    await platform.engine.claim("fan_2", book.launch.id, "A", 1, "k2")
    assert store.log == ["claim fan_1", "release expired", "claim fan_2"]


async def test_cancelling_a_launch_and_its_holds_is_one_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "soldout.db")
    platform = Platform(store, TokenSigner(None, "a"))
    await platform.start(sweep=False)
    try:
        book = await open_launch(platform)
        await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")
        before = store.writer.batches
        await platform.catalog.change_launch(book.launch.id, LaunchChanges(cancel=True))
        assert store.writer.batches == before + 1
        [row] = await store.claims.all()
        assert row.state is ClaimState.CANCELLED
    finally:
        await platform.stop()


async def test_tokens_are_only_valid_for_the_database_that_made_them(tmp_path: Path) -> None:
    async def token_and_signer(path: Path) -> tuple[str, TokenSigner]:
        platform = Platform(SqliteStore(path), TokenSigner(None, "a"))
        await platform.start(sweep=False)
        _, token = await platform.fans.register("ann@example.com", "Ann")
        await platform.stop()
        return token, platform.tokens

    token, signer = await token_and_signer(tmp_path / "one.db")
    other_token, other = await token_and_signer(tmp_path / "two.db")
    assert signer.fan_of(token) is not None
    assert other.fan_of(token) is None
    assert signer.fan_of(other_token) is None


async def test_a_claim_whose_payment_was_not_written_still_expires(
    flaky: tuple[Platform, FlakyStore, TestPayments], clock: FakeClock
) -> None:
    platform, store, _ = flaky
    book = await open_launch(platform, batch={"A": 1}, payment_window_seconds=60)
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    store.fail_settle = True
    with pytest.raises(errors.StorageUnavailable):
        await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    clock.advance(61)
    assert await platform.engine.expire_due() == 1
    assert book.stock["A"].available == 1


async def test_a_payment_whose_request_is_cancelled_keeps_what_it_wrote(
    flaky: tuple[Platform, FlakyStore, TestPayments],
) -> None:
    platform, store, payments = flaky
    book = await open_launch(platform, batch={"A": 1})
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    store.settle_gate = asyncio.get_running_loop().create_future()
    paying = asyncio.create_task(platform.engine.pay("fan_1", claim.id, "test", "tok", "p"))
    await store.settling.wait()  # the payment is waiting for its write
    paying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paying
    store.settle_gate.set_result(None)
    assert store.last_settle is not None
    await store.last_settle
    assert await refunds(payments) == 0
    assert claim.state is ClaimState.PAID
    assert (book.stock["A"].held, book.stock["A"].paid) == (0, 1)
    assert platform.engine.order_for(claim.id) is not None


async def test_an_order_whose_transaction_fails_leaves_no_order_and_no_notification(
    flaky: tuple[Platform, FlakyStore, TestPayments],
) -> None:
    platform, store, payments = flaky
    book = await open_launch(platform, batch={"A": 1})
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    store.fail_next_transaction(errors.StorageUnavailable())
    with pytest.raises(errors.StorageUnavailable):
        await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
    await platform.engine.background.drain()  # the money goes back
    # nothing of the order's transaction is on record ...
    assert store.orders.rows == {}
    assert store.orders.event_rows == []
    assert [n.kind for n in store.notifications.rows] == ["payment_refunded"]
    assert store.claims.rows[claim.id].state is ClaimState.HELD
    # ... and memory agrees: the claim is held again, its unit with it, the money back
    assert claim.state is ClaimState.HELD
    assert (book.stock["A"].held, book.stock["A"].paid) == (1, 0)
    assert platform.engine.order_for(claim.id) is None
    assert await refunds(payments) == 1
    order = await platform.engine.pay("fan_1", claim.id, "test", "tok", "p2")
    assert not order.replayed
    assert order.order is not None
    assert list(store.orders.rows) == [order.order.id]
    assert "order_confirmed" in [n.kind for n in store.notifications.rows]


async def test_a_reservation_whose_transaction_fails_never_happened(
    flaky: tuple[Platform, FlakyStore, TestPayments], clock: FakeClock
) -> None:
    platform, store, _ = flaky
    book = await open_launch(platform)
    launch_id = book.launch.id
    opens = clock.now() + timedelta(minutes=5)
    await platform.catalog.change_launch(
        launch_id, LaunchChanges(sale_opens_at=opens, reservations_open_at=clock.now())
    )
    store.fail_next_transaction(errors.StorageUnavailable())
    with pytest.raises(errors.StorageUnavailable):
        await platform.engine.reservations.reserve(launch_id, "fan_1")
    assert "fan_1" not in book.reservations
    assert store.reservations.rows == []
    assert not [n for n in store.notifications.rows if n.kind == "reservation_confirmed"]
    _, created = await platform.engine.reservations.reserve(launch_id, "fan_1")
    assert created  # decided afresh
    assert [r.fan_id for r in store.reservations.rows] == ["fan_1"]
    assert [n.kind for n in store.notifications.rows if n.fan_id == "fan_1"] == [
        "reservation_confirmed"
    ]


async def test_an_order_is_on_record_whole_or_not_at_all_across_a_restart(
    tmp_path: Path,
) -> None:
    """The order's claim, order, payment, history line and confirmation are one block:
    a failing statement among them (here its confirmation, refused by a trigger) leaves
    none of them on disk, where separate writes committed all the others. The restarted
    engine rebuilds the claim as held from that record."""
    path = tmp_path / "soldout.db"
    platform = Platform(SqliteStore(path), TokenSigner(None, "a"))
    await platform.start(sweep=False)
    try:
        book = await open_launch(platform, batch={"A": 1})
        claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER no_confirmation BEFORE INSERT ON notifications"
                " WHEN NEW.kind = 'order_confirmed' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        with pytest.raises(sqlite3.IntegrityError):
            await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")
        await platform.engine.background.drain()  # the money goes back
        assert platform.engine.order_for(claim.id) is None
        assert (book.stock["A"].held, book.stock["A"].paid) == (1, 0)
    finally:
        await platform.stop()

    with sqlite3.connect(path) as db:
        assert db.execute("SELECT state FROM claims").fetchall() == [("held",)]
        assert db.execute("SELECT count(*) FROM orders").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM order_events").fetchone() == (0,)
        assert db.execute("SELECT kind FROM notifications").fetchall() == [("payment_refunded",)]
        assert db.execute("SELECT state FROM payments").fetchall() == [("refunded",)]

    reborn = Platform(SqliteStore(path), TokenSigner(None, "a"))
    await reborn.start(sweep=False)
    try:
        again = reborn.engine.book(book.launch.id)
        assert (again.stock["A"].held, again.stock["A"].paid) == (1, 0)
        assert reborn.engine.ledger.by_id(claim.id).state is ClaimState.HELD
        assert reborn.engine.order_for(claim.id) is None
    finally:
        await reborn.stop()
