"""Paying through a real provider's hosted page, Stripe and Mollie alike, end to end in the
engine: each provider through its official SDK against a strict local fake of its API
(`tests.fakes`), on loopback. The same matrix runs for both: success, decline, a payment
the bank confirms later, the fan back before the webhook, duplicate and out-of-order
webhooks, a forged one, refund, a late payment after the claim expired, the provider
timing out after it took the money (settled at the next start), and reconciliation.

Webhooks are taken from the fake and handed to soldout by the test, in any order and as
often as it likes (the fakes post them over HTTP too; `tests/browser` covers that path).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim, ClaimState, OrderStatus
from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.domain.products import Sku
from soldout.engine.settlement import CANCELLED_ON_PAGE
from soldout.payments import PaymentProvider, TestPayments, usable_methods
from soldout.payments.mollie_provider import MolliePayments
from soldout.payments.stripe_provider import StripePayments
from soldout.services import Platform
from soldout.services.reconcile import Snapshot, elsewhere, reconcile
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.ports import Store
from soldout.store.sqlite import SqliteStore
from tests.fakes.mollie_api import API_KEY as MOLLIE_KEY
from tests.fakes.mollie_api import FakeMollie
from tests.fakes.stripe_api import FakeStripe, sign
from tests.unit.conftest import open_launch

STRIPE_KEY = "sk_test_soldout_fake_stripe_key_0123456789"
STRIPE_SECRET = "whsec_soldout_fake_stripe_signing_secret"
SHOP = "http://shop.test"
WINDOW = 600


class Account(Protocol):
    """A provider's fake account, as the matrix drives it."""

    name: str

    def provider(self) -> PaymentProvider: ...
    def pay(self, reference: str) -> None: ...  # the fan pays on the page
    def decline(self, reference: str) -> None: ...  # the bank refuses
    def confirm_later(self, reference: str) -> None: ...  # the outcome comes later
    def confirmed(self, reference: str) -> None: ...  # ...and here it is: paid
    def webhooks(self) -> list[tuple[bytes, dict[str, str]]]: ...
    def forged(self) -> tuple[bytes, dict[str, str]]: ...
    def hang_taking_money(self, payment: PaymentRecord) -> None: ...
    def refund_in_dashboard(self, payment: PaymentRecord) -> None: ...
    def hung(self, within: float) -> bool: ...  # a call took effect, left unanswered
    def money_without_order(self) -> str: ...
    def page_takes_money(self, reference: str) -> bool: ...


class _Fake:
    """What both fakes answer alike."""

    fake: Any

    def hung(self, within: float) -> bool:
        return bool(self.fake.hanging.wait(within))

    def refund_in_dashboard(self, payment: PaymentRecord) -> None:
        assert payment.reference is not None
        self.fake.refund_in_dashboard(payment.reference)


class StripeAccount(_Fake):
    name = "stripe"

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake

    def provider(self) -> PaymentProvider:
        return StripePayments(STRIPE_KEY, STRIPE_SECRET, api_base=self.fake.url, timeout=2.0)

    def pay(self, reference: str) -> None:
        self.fake.complete(reference, "succeeds")

    def decline(self, reference: str) -> None:
        self.fake.complete(reference, "declines")  # Stripe's page says so; it stays open

    def confirm_later(self, reference: str) -> None:
        self.fake.complete(reference, "3ds")

    def confirmed(self, reference: str) -> None:
        self.fake.complete(reference, "3ds_passes")

    def webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        return list(self.fake.events)

    def forged(self) -> tuple[bytes, dict[str, str]]:
        body, _ = self.fake.events[-1]
        return body, {"Stripe-Signature": sign(body, "whsec_not_the_shops_secret")}

    def hang_taking_money(self, payment: PaymentRecord) -> None:
        self.fake.hang_after(f"/v1/payment_intents/{intent_of(self.fake, payment)}/capture")

    def money_without_order(self) -> str:
        return self.fake.charge_without_session(1000, "EUR", "pay_never_recorded")

    def page_takes_money(self, reference: str) -> bool:
        try:
            self.fake.complete(reference, "succeeds")
        except ValueError:
            return False
        return True


def intent_of(fake: FakeStripe, payment: PaymentRecord) -> str:
    [session] = [s for s in fake.all("checkout.session") if s["client_reference_id"] == payment.id]
    return str(session["payment_intent"])


class MollieAccount(_Fake):
    name = "mollie"

    def __init__(self, fake: FakeMollie) -> None:
        self.fake = fake

    def provider(self) -> PaymentProvider:
        hook = f"{SHOP}/api/v1/payments/webhooks/mollie"
        return MolliePayments(MOLLIE_KEY, webhook_url=hook, api_base=self.fake.url, timeout=2.0)

    def pay(self, reference: str) -> None:
        self.fake.set_status(reference, "paid")

    def decline(self, reference: str) -> None:
        self.fake.set_status(reference, "failed")

    def confirm_later(self, reference: str) -> None:
        self.fake.set_status(reference, "pending")

    def confirmed(self, reference: str) -> None:
        self.fake.set_status(reference, "paid")

    def webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        return [(body, form) for _, body in self.fake.webhook_calls]

    def forged(self) -> tuple[bytes, dict[str, str]]:
        return b"id=tr_NotAPaymentOfMollies", {"Content-Type": "application/x-www-form-urlencoded"}

    def hang_taking_money(self, payment: PaymentRecord) -> None:
        assert payment.reference is not None  # soldout's next look at the paid payment
        self.fake.hang_after("GET", f"/v2/payments/{payment.reference}")

    def money_without_order(self) -> str:
        return self.fake.payment_without_order(1000, "EUR", "pay_never_recorded")

    def page_takes_money(self, reference: str) -> bool:
        if self.fake.payment(reference)["status"] != "open":
            return False
        self.fake.set_status(reference, "paid")
        return True


@pytest.fixture(scope="module")
def stripe_fake() -> Iterator[FakeStripe]:
    with FakeStripe(STRIPE_KEY, STRIPE_SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def mollie_fake() -> Iterator[FakeMollie]:
    with FakeMollie() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))  # the providers sign and expire by the real time


@pytest.fixture(params=["stripe", "mollie"])
def account(
    request: pytest.FixtureRequest,
    stripe_fake: FakeStripe,
    mollie_fake: FakeMollie,
    clock: FakeClock,
) -> Account:
    if request.param == "stripe":
        stripe_fake.reset()
        return StripeAccount(stripe_fake)
    mollie_fake.reset()
    mollie_fake.send_webhooks = False  # the test hands them over
    mollie_fake.now = clock.now
    return MollieAccount(mollie_fake)


@dataclass
class Shop:
    platform: Platform
    account: Account
    clock: FakeClock
    launch_id: str = ""

    @property
    def checkout(self) -> Any:
        return self.platform.engine.checkout

    async def claim(self, fan: str = "fan_1") -> Claim:
        outcome = await self.platform.engine.claim(fan, self.launch_id, "A", 1, f"{fan}-c")
        return outcome.claim

    async def start_paying(
        self, claim: Claim, key: str = "p1", method: str | None = None
    ) -> PaymentRecord:
        method = method or ("card" if self.account.name == "stripe" else "creditcard")
        outcome = await self.platform.engine.pay(claim.fan_id, claim.id, method, "", key)
        assert outcome.order is None
        assert outcome.redirect_url is not None
        assert outcome.redirect_url.startswith("http")
        return self.checkout.payments_of(claim.id)[-1]  # type: ignore[no-any-return]

    def page_of(self, payment: PaymentRecord) -> str:
        assert payment.reference is not None
        return payment.reference

    async def deliver(self, body: bytes, headers: dict[str, str]) -> str:
        return await self.checkout.webhook(body, headers)  # type: ignore[no-any-return]

    async def deliver_all(self) -> list[str]:
        return [await self.deliver(b, h) for b, h in self.account.webhooks()]


async def opened(platform: Platform, account: Account, clock: FakeClock) -> Shop:
    await platform.start(sweep=False)
    book = await open_launch(platform, batch={"A": 1}, payment_window_seconds=WINDOW)
    return Shop(platform, account, clock, book.launch.id)


def platform_on(store: Store, account: Account, clock: FakeClock) -> Platform:
    return Platform(
        store, TokenSigner(b"k" * 32, "adm"), clock, account.provider(), public_url=SHOP
    )


@pytest.fixture
async def shop(account: Account, clock: FakeClock) -> AsyncIterator[Shop]:
    platform = platform_on(InMemoryStore(), account, clock)
    running = await opened(platform, account, clock)
    yield running
    await platform.engine.background.drain()
    await platform.stop()


async def test_paying_on_the_providers_page_makes_the_order(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    assert payment.state is PaymentState.PENDING
    shop.account.pay(shop.page_of(payment))
    assert "order_created" in await shop.deliver_all()
    order = shop.platform.engine.order_for(claim.id)
    assert order is not None
    assert order.status is OrderStatus.PAID
    assert payment.state is PaymentState.CAPTURED
    line = await shop.platform.payments.transaction(payment.id, payment.reference)
    assert line is not None
    assert (line.status, line.captured, line.currency) == ("captured", 1000, "EUR")
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_the_fan_back_from_the_page_finds_the_order_before_any_webhook(
    shop: Shop,
) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))
    settled = await shop.checkout.settle("fan_1", payment.id)  # the return page asks
    assert settled.state is PaymentState.CAPTURED
    assert shop.platform.engine.order_for(claim.id) is not None
    answers = await shop.deliver_all()  # the webhook, late: nothing more happens
    assert "order_created" not in answers
    assert len(shop.platform.engine.orders.all()) == 1


async def test_a_decline_keeps_the_claim_and_the_fan_pays_again(shop: Shop) -> None:
    claim = await shop.claim()
    first = await shop.start_paying(claim, "p1")
    shop.account.decline(shop.page_of(first))
    await shop.deliver_all()
    # Stripe's page shows the decline and stays open: the fan goes back ("cancel").
    await shop.checkout.settle("fan_1", first.id, cancelled=True)
    assert first.state is PaymentState.DECLINED  # not "cancelled": the bank said no
    assert claim.state is ClaimState.HELD
    second = await shop.start_paying(claim, "p2")
    assert second.id != first.id
    assert second.reference != first.reference
    shop.account.pay(shop.page_of(second))
    await shop.deliver_all()
    order = shop.platform.engine.order_for(claim.id)
    assert order is not None
    assert order.payment_reference == second.reference
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_a_card_refused_on_the_page_is_a_decline_before_any_webhook(shop: Shop) -> None:
    """The fan leaves the page by "back" after their card was refused, before the
    provider's webhook (or with none): a decline, not "you cancelled"; closing the page
    must not wipe why (Stripe clears it when the intent is cancelled)."""
    claim = await shop.claim()
    first = await shop.start_paying(claim, "p1")
    shop.account.decline(shop.page_of(first))
    await shop.checkout.settle("fan_1", first.id, cancelled=True)  # no webhook delivered
    assert first.state is PaymentState.DECLINED
    assert first.reason
    assert claim.state is ClaimState.HELD


async def test_paying_again_closes_the_open_page_first(shop: Shop) -> None:
    claim = await shop.claim()
    first = await shop.start_paying(claim, "p1")
    second = await shop.start_paying(claim, "p2")  # the fan closed the tab, pays again
    assert first.state is PaymentState.FAILED
    assert not shop.account.page_takes_money(shop.page_of(first))
    shop.account.pay(shop.page_of(second))
    await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is not None
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_a_payment_the_bank_confirms_later_completes_by_its_webhook(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.confirm_later(shop.page_of(payment))
    await shop.deliver_all()
    await shop.checkout.settle("fan_1", payment.id)  # back from the page: not decided yet
    assert payment.state is PaymentState.PENDING
    assert shop.platform.engine.order_for(claim.id) is None
    shop.account.confirmed(shop.page_of(payment))
    assert "order_created" in await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is not None


async def test_a_payment_whose_webhook_never_comes_is_settled_by_the_check(shop: Shop) -> None:
    """The fan paid on the page and never came back, and the webhook was lost: the check
    of pending payments asks the provider, once the payment has waited long enough."""
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    checks = shop.platform.payment_checks
    shop.clock.advance(checks.schedule.after)
    assert await checks.check() == 0  # the fan is still on the page
    assert payment.state is PaymentState.PENDING
    shop.account.pay(shop.page_of(payment))

    assert await checks.check() == 1

    assert payment.state is PaymentState.CAPTURED
    assert shop.platform.engine.order_for(claim.id) is not None
    assert "order_created" not in await shop.deliver_all()  # found late: nothing more
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_duplicate_and_out_of_order_webhooks_make_one_order(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.confirm_later(shop.page_of(payment))
    shop.account.confirmed(shop.page_of(payment))
    hooks = shop.account.webhooks()
    answers = [await shop.deliver(b, h) for b, h in [*reversed(hooks), *hooks, *hooks]]
    assert answers.count("order_created") == 1
    assert "duplicate" in answers
    assert len(shop.platform.engine.orders.all()) == 1
    assert payment.state is PaymentState.CAPTURED


async def test_a_forged_webhook_is_refused(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))
    body, headers = shop.account.forged()
    with pytest.raises(errors.WebhookRejected):
        await shop.deliver(body, headers)
    assert shop.platform.engine.order_for(claim.id) is None


async def test_a_refund_gives_the_money_and_the_unit_back_once(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))
    await shop.deliver_all()
    order = shop.platform.engine.order_for(claim.id)
    assert order is not None
    await shop.platform.engine.refund_order(order, "the fan changed their mind")
    await shop.deliver_all()  # the provider's own refund event: nothing more
    line = await shop.platform.payments.transaction(payment.id, payment.reference)
    assert line is not None
    assert (line.status, line.refunded) == ("refunded", 1000)
    assert order.status is OrderStatus.REFUNDED
    assert payment.state is PaymentState.REFUNDED
    book = shop.platform.engine.book(shop.launch_id)
    assert (book.stock["A"].available, book.stock["A"].paid) == (1, 0)
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_a_part_refund_goes_back_once_and_the_order_stands(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))
    await shop.deliver_all()
    order = shop.platform.engine.order_for(claim.id)
    assert order is not None
    await shop.platform.engine.refund_part(order, 300, "scratched", "k1")
    await shop.deliver_all()  # the provider's events of a part refund: nothing to undo
    [refund] = order.refunds
    provider = shop.platform.payments
    assert payment.reference is not None
    # soldout's retry after a lost answer: the same refund id refunds nothing more
    await provider.refund_part(payment.reference, Money(300, "EUR"), refund.id, "scratched")
    with pytest.raises(errors.InvalidInput) as over:  # more than the 700 left
        await provider.refund_part(payment.reference, Money(701, "EUR"), "rfd_other")
    line = await provider.transaction(payment.id, payment.reference)
    assert line is not None
    assert (line.status, line.captured, line.refunded) == ("captured", 1000, 300)
    assert over.value.field == "amount"
    assert order.status is not OrderStatus.REFUNDED
    assert payment.state is PaymentState.CAPTURED
    assert not reconcile(await Snapshot.read(shop.platform.store, provider))

    await shop.platform.engine.refund_order(order, "sent back")
    await shop.deliver_all()
    line = await provider.transaction(payment.id, payment.reference)
    assert line is not None
    assert (line.status, line.refunded) == ("refunded", 1000)
    assert order.status is OrderStatus.REFUNDED
    assert not reconcile(await Snapshot.read(shop.platform.store, provider))


async def test_a_payment_after_the_claim_expired_goes_back(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))  # paid at the last second; the webhook is late
    shop.clock.advance(WINDOW + 1)
    assert await shop.platform.engine.expire_due() == 1
    await shop.platform.engine.background.drain()  # soldout closes the page (too late)
    await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is None
    assert payment.state is PaymentState.REFUNDED
    line = await shop.platform.payments.transaction(payment.id, payment.reference)
    assert line is not None
    assert line.captured == line.refunded
    told = await shop.platform.fans.notifications("fan_1", 10)
    assert "payment_refunded" in [n.kind for n in told]
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_an_expired_claim_closes_its_payment_page(shop: Shop) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.clock.advance(WINDOW + 1)
    assert await shop.platform.engine.expire_due() == 1
    await shop.platform.engine.background.drain()
    assert not shop.account.page_takes_money(shop.page_of(payment))
    await shop.deliver_all()  # the provider says the page closed (expired, or cancelled)
    assert payment.state in (PaymentState.DECLINED, PaymentState.FAILED)
    assert "closed with the claim" in str(payment.reason)
    assert shop.platform.engine.order_for(claim.id) is None
    told = await shop.platform.fans.notifications("fan_1", 10)
    assert "payment_declined" not in [n.kind for n in told]  # the fan did nothing wrong
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


@pytest.mark.parametrize("account", ["mollie"], indirect=True)
async def test_a_cancel_on_the_page_is_no_decline_even_when_its_webhook_comes_first(
    shop: Shop,
) -> None:
    """Mollie tells soldout of a cancel by webhook, often before the fan is back."""
    claim = await shop.claim()
    first = await shop.start_paying(claim, "p1")
    assert isinstance(shop.account, MollieAccount)
    shop.account.fake.set_status(shop.page_of(first), "canceled")
    assert await shop.deliver_all() == ["cancelled"]
    await shop.checkout.settle("fan_1", first.id, cancelled=True)  # and then they are back
    assert (first.state, first.reason) == (PaymentState.FAILED, CANCELLED_ON_PAGE)
    told = await shop.platform.fans.notifications("fan_1", 10)
    assert "payment_declined" not in [n.kind for n in told]
    second = await shop.start_paying(claim, "p2")  # the unit is still held: pay again
    shop.account.pay(shop.page_of(second))
    await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is not None


@pytest.mark.parametrize("account", ["mollie"], indirect=True)
async def test_money_through_a_page_that_could_not_be_closed_goes_back(shop: Shop) -> None:
    """An open iDEAL payment cannot be cancelled at Mollie: a fan who gives it up and pays
    again, then completes the old page too, gets the second payment back."""
    claim = await shop.claim()
    first = await shop.start_paying(claim, "p1", method="ideal")
    second = await shop.start_paying(claim, "p2", method="ideal")
    assert first.state is PaymentState.FAILED
    shop.account.pay(shop.page_of(second))
    assert shop.account.page_takes_money(shop.page_of(first))
    await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is not None
    assert first.state is PaymentState.REFUNDED  # the money went straight back
    assert second.state is PaymentState.CAPTURED
    told = await shop.platform.fans.notifications("fan_1", 10)
    [back] = [n for n in told if n.kind == "payment_refunded"]
    assert back.data["why"] == "given_up"  # not "the unit was no longer held for you"
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))


async def test_the_provider_timing_out_after_taking_the_money_is_settled_at_start(
    account: Account, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "soldout.db"
    first = await opened(platform_on(SqliteStore(path), account, clock), account, clock)
    claim = await first.claim()
    payment = await first.start_paying(claim)
    account.pay(first.page_of(payment))
    [(body, headers)] = account.webhooks()[-1:]
    account.hang_taking_money(payment)
    hung = asyncio.ensure_future(first.deliver(body, headers))
    assert await asyncio.to_thread(account.hung, 5.0)  # the fake's thread says so
    hung.cancel()  # soldout stops here: the money is taken, no order is written
    await asyncio.gather(hung, return_exceptions=True)
    await first.platform.stop()

    again = platform_on(SqliteStore(path), account, clock)
    await again.start(sweep=False)  # asks the provider about every pending payment
    try:
        assert again.resumed_payments == 1
        order = again.engine.order_for(claim.id)
        assert order is not None
        assert order.status is OrderStatus.PAID
        assert not reconcile(await Snapshot.read(again.store, again.payments))
    finally:
        await again.stop()


async def test_reconciliation_finds_money_without_an_order_and_an_order_without_money(
    shop: Shop,
) -> None:
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))
    await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is not None
    stray = shop.account.money_without_order()
    shop.account.refund_in_dashboard(payment)  # its event never reaches soldout
    found = reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))
    kinds = {(m.kind, m.subject) for m in found}
    assert ("money_without_order", "pay_never_recorded") in kinds or any(
        m.kind == "money_without_order" and stray in m.subject for m in found
    )
    assert ("payment_mismatch", payment.id) in kinds  # the order's money is gone


@pytest.mark.parametrize("account", ["mollie"], indirect=True)
async def test_a_method_or_token_mollie_cannot_take_is_refused_before_mollie(
    shop: Shop,
) -> None:
    """iDEAL and Bancontact move euros only: a dollar claim is refused them in words,
    with nothing recorded, and is paid by card. A card token is refused as well: the card
    is given on Mollie's page, and a token would be silently ignored."""
    dollars = Sku("U", "U", Money(3000, "USD"), Money(2000, "USD"))
    product = await shop.platform.catalog.create_product("Gadget", "", [dollars])
    book = await shop.platform.catalog.create_launch(
        product_id=product.id,
        title="t",
        sale_opens_at=shop.clock.now(),
        rules=LaunchRules(),
        batch={"U": 1},
    )
    claim = (await shop.platform.engine.claim("fan_1", book.launch.id, "U", 1, "c")).claim
    payment = await shop.start_paying(claim, "k-card")  # a page open, not paid yet
    for method in ("ideal", "bancontact"):
        with pytest.raises(errors.InvalidInput) as refused:
            await shop.platform.engine.pay("fan_1", claim.id, method, "", f"k-{method}")
        assert (refused.value.code, refused.value.field) == ("method_not_for_currency", "method")
        assert "use creditcard" in str(refused.value)
    with pytest.raises(errors.InvalidInput) as refused:  # the card is given on the page
        await shop.platform.engine.pay("fan_1", claim.id, "creditcard", "tok_ok", "k-token")
    assert refused.value.field == "token"
    assert shop.checkout.payments_of(claim.id) == [payment]  # nothing recorded,
    assert payment.state is PaymentState.PENDING  # and the open page was not given up
    assert usable_methods(shop.platform.payments.methods, "USD") == ["creditcard"]
    assert usable_methods(shop.platform.payments.methods, "EUR") == [
        "bancontact",
        "creditcard",
        "ideal",
    ]
    shop.account.pay(shop.page_of(payment))
    await shop.deliver_all()
    assert shop.platform.engine.order_for(claim.id) is not None


async def test_reconciliation_with_another_provider_names_the_payments_it_did_not_read(
    shop: Shop, tmp_path: Path
) -> None:
    """Run without the live provider's settings (SOLDOUT_PAYMENTS left at `test`), a
    reconciliation does not compare Stripe's or Mollie's payments with the test ledger,
    and does not say "ok" either (it did, for a shop whose money it never looked at)."""
    claim = await shop.claim()
    payment = await shop.start_paying(claim)
    shop.account.pay(shop.page_of(payment))
    await shop.deliver_all()
    other = TestPayments(tmp_path / "ledger.db", secret=b"s" * 32)
    try:
        found = reconcile(await Snapshot.read(shop.platform.store, other))
    finally:
        await other.close()
    name = shop.platform.payments.name
    assert [(m.kind, m.subject) for m in found] == [("provider_not_read", name)]
    assert f"SOLDOUT_PAYMENTS={name}" in found[0].detail
    assert not reconcile(await Snapshot.read(shop.platform.store, shop.platform.payments))

    # A shop that sold through the test provider before it took real money: read with
    # its live provider, the older payments are counted apart, not a mismatch forever.
    before = replace(payment, id="pay_from_the_rehearsal", provider="test")
    before.created_at = payment.created_at - timedelta(days=30)
    async with shop.platform.store.transaction() as tx:
        tx.payments.add(before)
    snapshot = await Snapshot.read(shop.platform.store, shop.platform.payments)
    assert not reconcile(snapshot)
    assert elsewhere(snapshot) == {"test": 1}


async def test_when_the_provider_was_last_heard_from_outlives_a_restart(
    account: Account, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "soldout.db"
    first = await opened(platform_on(SqliteStore(path), account, clock), account, clock)
    assert first.checkout.webhook_heard_at is None
    payment = await first.start_paying(await first.claim())
    account.pay(first.page_of(payment))
    await first.deliver_all()
    heard = first.checkout.webhook_heard_at
    assert heard is not None
    await first.platform.stop()
    again = platform_on(SqliteStore(path), account, clock)
    await again.start(sweep=False)
    try:
        assert again.engine.checkout.webhook_heard_at == heard  # the admin still shows it
    finally:
        await again.stop()
