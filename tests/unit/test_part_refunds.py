"""Part refunds on the engine and the `test` provider: part of an order's money goes back,
the order stands and keeps its unit; a retry after a crash refunds once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import ClaimState, Order, OrderStatus
from soldout.domain.money import Money
from soldout.payments import TestPayments
from soldout.services import Platform
from soldout.services.margin import launch_margin
from soldout.services.reconcile import Snapshot, reconcile
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.conftest import open_launch


class CrashingPayments(TestPayments):
    """Refunds at the provider, then loses the answer once (soldout stopped, or the
    network dropped it): the money moved but soldout did not hear so."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(secret=b"crash", clock=clock)
        self.lose_next_answer = False

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        await super().refund_part(reference, amount, refund_id, reason)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise errors.PaymentFailed("the answer was lost")


@pytest.fixture
async def shop(clock: FakeClock) -> AsyncIterator[tuple[Platform, CrashingPayments]]:
    payments = CrashingPayments(clock)
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "a"), clock, payments)
    await platform.start(sweep=False)
    yield platform, payments
    await platform.stop()


async def paid_order(platform: Platform) -> Order:
    """An order of one unit of A, 10.00 EUR."""
    book = await open_launch(platform, batch={"A": 2})
    claim = (await platform.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    order = (await platform.engine.pay("fan_1", claim.id, "test", "tok", "p")).order
    assert order is not None
    return order


async def refunded_at_provider(payments: TestPayments) -> tuple[str, int, int]:
    [line] = await payments.transactions()
    return line.status, line.captured, line.refunded


async def test_a_part_refund_gives_money_back_and_the_order_keeps_its_unit(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, payments = shop
    order = await paid_order(platform)
    await platform.engine.refund_part(order, 300, "scratched", "r1")

    assert await refunded_at_provider(payments) == ("captured", 1000, 300)
    assert order.status is not OrderStatus.REFUNDED
    assert order.in_queue
    assert (order.refunded_amount, order.left_to_refund) == (300, 700)
    assert platform.engine.ledger.by_id(order.claim_id).state is ClaimState.PAID
    book = platform.engine.launch_books.get(order.launch_id)
    assert book.stock["A"].paid == 1
    history = await platform.store.orders.events(order.id)
    assert history[-1].kind == "refunded_part"
    assert history[-1].detail == "EUR 3.00 refunded: scratched"
    [note, *_] = await platform.fans.notifications("fan_1", 10)
    assert note.kind == "order_refunded_part"
    assert (note.data["amount"], note.data["reason"]) == (300, "scratched")
    [stored] = [o for o in await platform.store.orders.all() if o.id == order.id]
    assert [(r.amount, r.done) for r in stored.refunds] == [(300, True)]


async def test_two_part_refunds_add_up_and_one_over_what_is_left_is_refused(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, payments = shop
    order = await paid_order(platform)
    await platform.engine.refund_part(order, 300, "scratched", "r1")
    await platform.engine.refund_part(order, 200, "late", "r2")
    with pytest.raises(errors.InvalidInput) as refused:
        await platform.engine.refund_part(order, 501, "more", "r3")

    assert refused.value.field == "amount"
    assert "EUR 5.00" in refused.value.message
    assert await refunded_at_provider(payments) == ("captured", 1000, 500)
    assert order.refunded_amount == 500
    assert [r.key for r in order.refunds] == ["r1", "r2"]


async def test_a_full_refund_after_part_refunds_gives_back_what_is_left_and_unsells(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, payments = shop
    order = await paid_order(platform)
    await platform.engine.refund_part(order, 300, "scratched", "r1")
    await platform.engine.refund_order(order, "returned")

    assert await refunded_at_provider(payments) == ("refunded", 1000, 1000)
    assert order.status is OrderStatus.REFUNDED
    assert order.refunded_amount == 1000
    assert platform.engine.ledger.by_id(order.claim_id).state is ClaimState.CANCELLED
    book = platform.engine.launch_books.get(order.launch_id)
    assert book.stock["A"].paid == 0
    history = await platform.store.orders.events(order.id)
    assert history[-1].detail == "EUR 7.00 refunded: returned"


async def test_a_retry_with_the_same_key_after_a_lost_answer_refunds_once(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, payments = shop
    order = await paid_order(platform)
    payments.lose_next_answer = True
    with pytest.raises(errors.PaymentFailed):
        await platform.engine.refund_part(order, 300, "scratched", "r1")
    [pending] = order.refunds
    assert not pending.done
    assert order.left_to_refund == 700
    with pytest.raises(errors.Conflict) as blocked:
        await platform.engine.refund_order(order, "returned")
    assert blocked.value.code == "refund_pending"

    await platform.engine.refund_part(order, 300, "scratched", "r1")
    await platform.engine.refund_part(order, 300, "scratched", "r1")

    assert await refunded_at_provider(payments) == ("captured", 1000, 300)
    assert [(r.id, r.done) for r in order.refunds] == [(pending.id, True)]
    with pytest.raises(errors.IdempotencyKeyReused):
        await platform.engine.refund_part(order, 400, "scratched", "r1")


class ForgetfulPayments(CrashingPayments):
    """Forgets each idempotency key at once, as Stripe does after 24 hours."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.asked = 0

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        self.asked += 1
        await super().refund_part(reference, amount, f"{refund_id}-{self.asked}", reason)


async def test_a_retry_after_the_providers_key_expired_finds_the_refund_made(
    clock: FakeClock,
) -> None:
    payments = ForgetfulPayments(clock)
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "a"), clock, payments)
    await platform.start(sweep=False)
    try:
        order = await paid_order(platform)
        payments.lose_next_answer = True
        with pytest.raises(errors.PaymentFailed):
            await platform.engine.refund_part(order, 300, "scratched", "r1")
        clock.advance(2 * 86400)  # the key is long forgotten at the provider

        await platform.engine.refund_part(order, 300, "scratched", "r1")

        assert payments.asked == 1  # not asked again: its record shows the refund
        assert await refunded_at_provider(payments) == ("captured", 1000, 300)
        assert [r.done for r in order.refunds] == [True]
        assert order.left_to_refund == 700
    finally:
        await platform.stop()


async def test_the_amount_is_read_in_the_orders_currency_and_all_that_is_left_is_in_full(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, payments = shop
    order = await paid_order(platform)
    for typed in ("0", "-1", "12.345", "ten", "10.01"):
        with pytest.raises(errors.InvalidInput) as refused:
            await platform.fulfilment.refund_amount(order.id, "why", typed, "k")
        assert refused.value.field == "amount", typed
    part = await platform.fulfilment.refund_amount(order.id, "scratched", "2.50", "k1")
    again = await platform.fulfilment.refund_amount(order.id, "scratched", "2.50", "k1")
    rest = await platform.fulfilment.refund_amount(order.id, "returned", "7.50", "k2")

    assert (part.made, again.made, rest.made) == ("part", None, "full")
    assert order.status is OrderStatus.REFUNDED
    assert await refunded_at_provider(payments) == ("refunded", 1000, 1000)


async def test_reconciliation_agrees_with_part_refunds_and_finds_one_it_does_not_know(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, payments = shop
    order = await paid_order(platform)
    await platform.engine.refund_part(order, 300, "scratched", "r1")
    payments.lose_next_answer = True  # made at the provider, not confirmed here
    with pytest.raises(errors.PaymentFailed):
        await platform.engine.refund_part(order, 200, "late", "r2")
    assert reconcile(await Snapshot.read(platform.store, payments)) == []

    [payment] = platform.engine.checkout.payments_of(order.claim_id)
    assert payment.reference is not None
    await payments.refund_part(payment.reference, Money(100, "EUR"), "rfd_dashboard")
    [mismatch] = reconcile(await Snapshot.read(platform.store, payments))

    assert (mismatch.kind, mismatch.subject) == ("payment_mismatch", payment.id)
    assert "captured 1000 here less 300 refunded in part" in mismatch.detail
    assert "captured 1000/600" in mismatch.detail


async def test_the_margin_counts_the_money_given_back(
    shop: tuple[Platform, CrashingPayments],
) -> None:
    platform, _ = shop
    order = await paid_order(platform)
    await platform.engine.refund_part(order, 300, "scratched", "r1")

    figures = await launch_margin(platform.engine, order.launch_id)

    skus, totals = figures["skus"], figures["totals"]
    assert isinstance(skus, dict)
    assert isinstance(totals, dict)
    line = skus["A"]
    assert (line["units"], line["revenue"], line["refunded_part"]) == (1, 700, 300)
    assert totals["EUR"]["revenue"] == 700
