"""The check of pending payments: a payment whose webhook was lost is settled by asking the
provider, a fan paying again is not kept waiting by it, and reconciliation reports one
pending for too long.

Engine level, on the in-memory store with a fake clock and the `test` provider; webhooks
are held by the test (`Inbox`): one never delivered is a lost one. The check runs when the
test calls it (`check()`), except in the one test of its loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.engine.pending_payments import CheckSchedule, PendingPaymentCheck
from soldout.payments import Transaction
from soldout.services import Platform
from soldout.services.reconcile import Snapshot, reconcile
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.test_payment_races import PausingPayments, Sale, assert_consistent

EVERY, AFTER = 30, 60  # the check's schedule in these tests (the defaults)
WINDOW = 600  # a claim's payment window: it outlives the checks unless a test says not


class AskingPayments(PausingPayments):
    """The pausing `test` provider with a pause before `transaction` too (what the check
    and a fan paying again ask), and its own delay for delayed cards."""

    def __init__(self, clock: FakeClock, delay: float = 0.0) -> None:
        super().__init__(clock)
        self._delay = delay

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        await self._step("transaction")
        return await super().transaction(merchant_reference, reference)


@asynccontextmanager
async def checked_sale(
    clock: FakeClock,
    provider: AskingPayments | None = None,
    schedule: CheckSchedule | None = None,
) -> AsyncIterator[Sale]:
    provider = provider or AskingPayments(clock)
    platform = Platform(
        InMemoryStore(),
        TokenSigner(b"k" * 32, "adm"),
        clock,
        provider,
        payment_checks=schedule or CheckSchedule(EVERY, AFTER),
    )
    await platform.start(sweep=False)
    try:
        yield Sale(platform, provider, clock)
    finally:
        await platform.stop()


def checks(sale: Sale) -> PendingPaymentCheck:
    return sale.platform.payment_checks


async def lost_webhook(sale: Sale, card: str, window: int = WINDOW) -> Claim:
    """fan_1's claim of the one unit, paid with `card`, whose outcome the provider
    decided and whose webhook never arrives."""
    await sale.open(batch={"A": 1}, payment_window_seconds=window)
    claim = await sale.claim("fan_1")
    await sale.pay("fan_1", claim, card)
    await sale.inbox.next()  # lost
    return claim


# -- a lost webhook ----------------------------------------------------------------------


async def test_a_payment_whose_webhook_was_lost_becomes_the_order_at_the_next_check(
    clock: FakeClock,
) -> None:
    async with checked_sale(clock) as sale:
        await sale.open(batch={"A": 1}, payment_window_seconds=WINDOW)
        claim = await sale.claim("fan_1")
        assert (await sale.pay("fan_1", claim, "tok_delayed")).order is None
        lost = await sale.inbox.next()  # the provider decided; its webhook never arrives
        payment = sale.payment(claim)

        clock.advance(AFTER - 1)
        assert await checks(sale).check() == 0  # too recent to ask about
        assert payment.state is PaymentState.PENDING
        clock.advance(1)
        assert await checks(sale).check() == 1

        order = sale.engine.order_for(claim.id)
        assert order is not None
        assert payment.state is PaymentState.CAPTURED
        assert claim.state is ClaimState.PAID
        assert await sale.inbox.deliver(lost) == "ignored"  # late: nothing more happens
        assert sale.engine.orders.all() == [order]
        assert await checks(sale).check() == 0
        await assert_consistent(sale)


async def test_a_lost_decline_is_settled_and_the_fan_pays_again(clock: FakeClock) -> None:
    async with checked_sale(clock) as sale:
        claim = await lost_webhook(sale, "tok_delayed_decline")
        payment = sale.payment(claim)
        clock.advance(AFTER)

        assert await checks(sale).check() == 1

        assert payment.state is PaymentState.DECLINED
        assert claim.state is ClaimState.HELD
        paid = await sale.pay("fan_1", claim, "tok_ok", "p2")
        assert paid.order is not None
        await assert_consistent(sale)


async def test_money_for_a_claim_that_expired_before_the_check_goes_back(
    clock: FakeClock,
) -> None:
    async with checked_sale(clock) as sale:
        claim = await lost_webhook(sale, "tok_delayed", AFTER)
        payment = sale.payment(claim)
        clock.advance(AFTER + 1)
        await sale.engine.expire_due()

        assert await checks(sale).check() == 1

        assert payment.state is PaymentState.REFUNDED
        assert sale.engine.order_for(claim.id) is None
        assert claim.state is ClaimState.EXPIRED
        assert (await sale.line(payment)).status == "voided"
        await sale.quiet()
        await assert_consistent(sale)


async def test_a_payment_the_provider_still_decides_is_left_pending(clock: FakeClock) -> None:
    async with checked_sale(clock, AskingPayments(clock, delay=3600)) as sale:
        await sale.open(batch={"A": 1}, payment_window_seconds=WINDOW)
        claim = await sale.claim("fan_1")
        await sale.pay("fan_1", claim, "tok_delayed")
        clock.advance(AFTER)

        assert await checks(sale).check() == 0

        assert sale.payment(claim).state is PaymentState.PENDING
        assert (await sale.line(sale.payment(claim))).status == "pending"


class CountingCheckout:
    """The check's port to the checkout, faked: one open payment, and how often each
    step ran. Its first pass fails (a store error), as a pass may."""

    def __init__(self, record: PaymentRecord) -> None:
        self.record = record
        self.passes = 0
        self.asked: list[str] = []
        self.second_pass, self.settled = asyncio.Event(), asyncio.Event()

    def unsettled(self) -> list[PaymentRecord]:
        self.passes += 1
        if self.passes == 1:
            raise RuntimeError("the store failed")
        if self.passes == 2:
            self.second_pass.set()
        return [] if self.asked else [self.record]

    async def ask_provider(self, record: PaymentRecord) -> bool:
        self.asked.append(record.id)
        self.settled.set()
        return True


async def test_the_check_runs_every_so_often_and_asks_once_a_payment_is_due(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock.now()
    record = PaymentRecord(
        "pay_1", "clm_1", "fan_1", "test", "test", 1000, "EUR", "k", "f", now, now
    )
    checkout = CountingCheckout(record)
    running = asyncio.create_task(
        PendingPaymentCheck(checkout, clock, CheckSchedule(every=0.01, after=AFTER)).run()
    )
    try:
        await asyncio.wait_for(checkout.second_pass.wait(), 5)  # after a failed pass too
        assert checkout.asked == []  # open, but not for long enough
        clock.advance(AFTER)
        await asyncio.wait_for(checkout.settled.wait(), 5)
    finally:
        running.cancel()
    assert checkout.asked == ["pay_1"]
    assert any("checking pending payments failed" in r.getMessage() for r in caplog.records)


# -- the check and a webhook at the same moment -------------------------------------------


async def test_a_webhook_arriving_while_the_check_asks_waits_and_changes_nothing(
    clock: FakeClock,
) -> None:
    async with checked_sale(clock) as sale:
        await sale.open(batch={"A": 1}, payment_window_seconds=WINDOW)
        claim = await sale.claim("fan_1")
        await sale.pay("fan_1", claim, "tok_delayed")
        late = await sale.inbox.next()
        clock.advance(AFTER)
        asking = sale.provider.pause("transaction")
        check = asyncio.create_task(checks(sale).check())
        await asking.reached.wait()  # the check has the claim's turn, the provider's line
        delivering = asyncio.create_task(sale.inbox.deliver(late))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not delivering.done()  # the webhook waits for the check's turn to end
        asking.open()

        assert await check == 1
        assert await delivering == "ignored"
        assert len(sale.engine.orders.all()) == 1
        [line] = await sale.provider.transactions()
        assert (line.status, line.captured) == ("captured", 1000)
        await assert_consistent(sale)


async def test_a_check_arriving_while_a_webhook_completes_the_payment_finds_it_settled(
    clock: FakeClock,
) -> None:
    async with checked_sale(clock) as sale:
        await sale.open(batch={"A": 1}, payment_window_seconds=WINDOW)
        claim = await sale.claim("fan_1")
        await sale.pay("fan_1", claim, "tok_delayed")
        webhook = await sale.inbox.next()
        capturing = sale.provider.pause("capture")
        delivering = asyncio.create_task(sale.inbox.deliver(webhook))
        await capturing.reached.wait()  # the webhook has the claim's turn, mid-capture
        clock.advance(AFTER)  # (the payment, authorized just now, is due again)
        check = asyncio.create_task(checks(sale).check())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not check.done()
        capturing.open()

        assert await delivering == "order_created"
        assert await check == 0
        assert len(sale.engine.orders.all()) == 1
        await assert_consistent(sale)


# -- a fan paying again ------------------------------------------------------------------


async def test_paying_again_after_a_lost_decline_asks_the_provider_and_pays(
    clock: FakeClock,
) -> None:
    """Before the check comes round: the new attempt asks about the open one itself."""
    async with checked_sale(clock) as sale:
        claim = await lost_webhook(sale, "tok_delayed_decline")

        paid = await sale.pay("fan_1", claim, "tok_ok", "p2")

        assert paid.order is not None
        first, second = sale.engine.checkout.payments_of(claim.id)
        assert (first.state, second.state) == (PaymentState.DECLINED, PaymentState.CAPTURED)
        await assert_consistent(sale)


async def test_paying_again_after_a_lost_authorization_finds_the_order(
    clock: FakeClock,
) -> None:
    async with checked_sale(clock) as sale:
        claim = await lost_webhook(sale, "tok_delayed")

        with pytest.raises(errors.AlreadyPaid):
            await sale.pay("fan_1", claim, "tok_ok", "p2")

        assert sale.engine.order_for(claim.id) is not None
        assert len(await sale.provider.transactions()) == 1  # no second charge
        await assert_consistent(sale)


async def test_paying_again_while_the_provider_decides_says_when_soldout_asks_again(
    clock: FakeClock,
) -> None:
    async with checked_sale(clock, AskingPayments(clock, delay=3600)) as sale:
        await sale.open(batch={"A": 1}, payment_window_seconds=WINDOW)
        claim = await sale.claim("fan_1")
        await sale.pay("fan_1", claim, "tok_delayed")
        clock.advance(10)

        with pytest.raises(errors.PaymentPending) as refused:
            await sale.pay("fan_1", claim, "tok_ok", "p2")

        started = sale.payment(claim).updated_at
        asked_by = started + timedelta(seconds=AFTER + EVERY)
        message = refused.value.message
        assert f"asks it again by {asked_by.isoformat(timespec='seconds')}" in message
        assert f"held until {claim.expires_at.isoformat(timespec='seconds')}" in message
        assert len(sale.engine.checkout.payments_of(claim.id)) == 1
        assert claim.state is ClaimState.HELD


# -- reconciliation ----------------------------------------------------------------------


async def test_reconciliation_reports_a_payment_pending_for_too_long(clock: FakeClock) -> None:
    async with checked_sale(clock, AskingPayments(clock, delay=3600)) as sale:
        await sale.open(batch={"A": 1}, payment_window_seconds=WINDOW)
        claim = await sale.claim("fan_1")
        await sale.pay("fan_1", claim, "tok_delayed")
        store, provider = sale.platform.store, sale.platform.payments

        clock.advance(15 * 60)
        assert reconcile(await Snapshot.read(store, provider, clock)) == []
        clock.advance(1)
        [stuck] = reconcile(await Snapshot.read(store, provider, clock))

        assert (stuck.kind, stuck.subject) == ("payment_stuck", sale.payment(claim).id)
        assert stuck.detail.startswith("pending for 15 minutes")
        assert stuck.detail.endswith("the provider says pending")
        shorter = reconcile(await Snapshot.read(store, provider, clock), timedelta(hours=1))
        assert shorter == []
