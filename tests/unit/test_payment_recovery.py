"""Payments cut short by a crash are settled with the provider at the next start.

Each test stops the provider at one step of a payment, takes what a restarted process
would find on disk (the in-memory store's crash copy: the payment recorded `pending`, no
order), starts a second platform on it with the same provider (whose ledger outlives
soldout, as a real provider's does), and checks what the fan and the money end up with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.payments import PaymentState
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.conftest import open_launch
from tests.unit.test_payment_races import WINDOW, PausingPayments

FAN = "fan_a"


def signer() -> TokenSigner:
    return TokenSigner(b"k" * 32, "adm")


@asynccontextmanager
async def crashed_during(
    step: str, clock: FakeClock, provider: PausingPayments
) -> AsyncIterator[tuple[InMemoryStore, Claim]]:
    """A sale whose first payment stops at `step`; yields what is durable at that moment,
    and the claim. The crashed process is abandoned, as a killed one would be."""
    first = Platform(InMemoryStore(), signer(), clock, provider)
    await first.start(sweep=False)
    book = await open_launch(first, batch={"A": 1}, payment_window_seconds=WINDOW)
    claim = (await first.engine.claim(FAN, book.launch.id, "A", 1, "c1")).claim
    gate = provider.pause(step)
    paying = asyncio.create_task(first.engine.pay(FAN, claim.id, "test", "tok_ok", "p1"))
    await gate.reached.wait()
    assert isinstance(first.store, InMemoryStore)
    durable = first.store.crash_copy()
    paying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paying
    await first.engine.ship_news.stop()
    yield durable, claim


async def restart(durable: InMemoryStore, clock: FakeClock, provider: PausingPayments) -> Platform:
    second = Platform(durable, signer(), clock, provider)
    await second.start(sweep=False)
    return second


async def test_money_taken_before_the_crash_becomes_the_order_at_start(
    clock: FakeClock,
) -> None:
    provider = PausingPayments(clock)
    async with crashed_during("captured", clock, provider) as (durable, claim):
        second = await restart(durable, clock, provider)
    try:
        [record] = second.engine.checkout.payments_of(claim.id)
        order = second.engine.order_for(claim.id)
        [line] = await provider.transactions()
        assert second.resumed_payments == 1
        assert record.state is PaymentState.CAPTURED
        assert order is not None
        assert order.total == claim.total_amount
        assert second.engine.ledger.by_id(claim.id).state is ClaimState.PAID
        assert (line.status, line.captured) == ("captured", claim.total_amount)
        # the fan's retry of the same payment now answers with that order
        again = await second.engine.pay(FAN, claim.id, "test", "tok_ok", "p1")
        assert again.order == order
    finally:
        await second.stop()


async def test_a_payment_that_never_reached_the_provider_fails_and_can_be_made_again(
    clock: FakeClock,
) -> None:
    provider = PausingPayments(clock)
    async with crashed_during("authorize", clock, provider) as (durable, claim):
        second = await restart(durable, clock, provider)
    try:
        [record] = second.engine.checkout.payments_of(claim.id)
        assert second.resumed_payments == 1
        assert record.state is PaymentState.FAILED
        assert "nothing was charged" in str(record.reason)
        assert await provider.transactions() == []
        assert second.engine.ledger.by_id(claim.id).state is ClaimState.HELD
        paid = await second.engine.pay(FAN, claim.id, "test", "tok_ok", "p2")
        assert paid.order is not None
    finally:
        await second.stop()


async def test_a_retry_of_a_request_that_died_before_the_provider_is_made_once(
    clock: FakeClock,
) -> None:
    """The fan's client never got an answer (soldout was killed before asking the
    provider); its retry under the same Idempotency-Key pays, once, and goes on replaying
    that order (tests/integration/test_crash.py meets this now and then)."""
    provider = PausingPayments(clock)
    async with crashed_during("authorize", clock, provider) as (durable, claim):
        second = await restart(durable, clock, provider)
    try:
        paid = await second.engine.pay(FAN, claim.id, "test", "tok_ok", "p1")
        again = await second.engine.pay(FAN, claim.id, "test", "tok_ok", "p1")
        [record] = second.engine.checkout.payments_of(claim.id)
        [line] = await provider.transactions()
        assert paid.order is not None
        assert again.order == paid.order
        assert again.replayed
        assert record.state is PaymentState.CAPTURED
        assert (line.status, line.merchant_reference) == ("captured", record.id)
        with pytest.raises(errors.IdempotencyKeyReused):  # the same key, another card
            await second.engine.pay(FAN, claim.id, "test", "tok_other", "p1")
    finally:
        await second.stop()

    third = await restart(durable, clock, provider)  # and after another restart
    try:
        replay = await third.engine.pay(FAN, claim.id, "test", "tok_ok", "p1")
        assert replay.order is not None
        assert replay.order.id == paid.order.id
    finally:
        await third.stop()


async def test_money_for_a_claim_that_expired_meanwhile_goes_back(clock: FakeClock) -> None:
    provider = PausingPayments(clock)
    async with crashed_during("captured", clock, provider) as (durable, claim):
        clock.advance(WINDOW + 1)  # down for longer than the window
        second = await restart(durable, clock, provider)
    try:
        [record] = second.engine.checkout.payments_of(claim.id)
        [line] = await provider.transactions()
        book = second.engine.book(claim.launch_id)
        assert second.resumed_payments == 1
        assert record.state is PaymentState.REFUNDED
        assert second.engine.order_for(claim.id) is None
        assert (line.status, line.refunded) == ("refunded", claim.total_amount)
        assert second.engine.ledger.by_id(claim.id).state is ClaimState.EXPIRED
        assert book.stock["A"].available == 1  # the unit is on sale again
    finally:
        await second.stop()


async def test_a_clean_start_settles_nothing(clock: FakeClock) -> None:
    provider = PausingPayments(clock)
    first = Platform(InMemoryStore(), signer(), clock, provider)
    await first.start(sweep=False)
    book = await open_launch(first, batch={"A": 2}, payment_window_seconds=WINDOW)
    claim = (await first.engine.claim(FAN, book.launch.id, "A", 1, "c1")).claim
    await first.engine.pay(FAN, claim.id, "test", "tok_ok", "p1")
    assert isinstance(first.store, InMemoryStore)
    second = await restart(first.store.crash_copy(), clock, provider)
    try:
        assert second.resumed_payments == 0
        assert second.engine.order_for(claim.id) is not None
    finally:
        await second.stop()
