"""The Mollie provider against a strict local fake of Mollie's API, as a caller relies on it.

The fake runs on loopback (`tests.fakes.mollie_api`); nothing here reaches the internet.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from soldout.clock import FakeClock
from soldout.domain.errors import InvalidInput, PaymentFailed, WebhookRejected
from soldout.domain.money import Money
from soldout.payments import (
    Authorization,
    AuthorizationStatus,
    EventType,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)
from soldout.payments.mollie_provider import MolliePayments
from tests.fakes.mollie_api import API_KEY, FakeMollie, LoopbackServer

EUR = Money(1250, "EUR")
HOOK = "http://127.0.0.1:9/payments/webhooks/mollie"  # recorded by the fake, not delivered
RETURN = "https://shop.example/claims/clm_1/paid"  # only ever a Location header
WAIT = 2.0  # seconds before a missing webhook fails the test rather than hanging it


@pytest.fixture(scope="module")
def mollie_account() -> Iterator[FakeMollie]:
    with FakeMollie() as fake:
        yield fake


@pytest.fixture
def mollie(mollie_account: FakeMollie, clock: FakeClock) -> FakeMollie:
    """The module's fake Mollie, emptied, on the test's clock, keeping its webhooks."""
    mollie_account.reset()
    mollie_account.send_webhooks = False
    mollie_account.now = clock.now
    return mollie_account


@pytest.fixture
async def provider(mollie: FakeMollie, clock: FakeClock) -> AsyncIterator[MolliePayments]:
    p = MolliePayments(API_KEY, webhook_url=HOOK, api_base=mollie.url, timeout=2.0, clock=clock)
    yield p
    await p.close()


async def pay(
    provider: MolliePayments,
    key: str = "pay_1",
    amount: Money = EUR,
    method: str = "ideal",
    return_url: str = RETURN,
    description: str = "Model One",
) -> Authorization:
    return await provider.authorize(
        PaymentRequest(
            method=method,
            token="",
            amount=amount,
            reference=key,
            idempotency_key=key,
            description=description,
            return_url=return_url,
        )
    )


async def choose(auth: Authorization, status: str) -> httpx.Response:
    """The fan's click on Mollie's test-mode page."""
    assert auth.redirect_url is not None
    async with httpx.AsyncClient() as browser:
        return await browser.post(auth.redirect_url, data={"status": status})


def hook(reference: str) -> bytes:
    return f"id={reference}".encode()


def changes(mollie: FakeMollie) -> list[tuple[str, str, str | None]]:
    """The calls that could change something at Mollie."""
    return [call for call in mollie.calls if call[0] != "GET"]


def mollie_api(mollie: FakeMollie, key: str = API_KEY) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=mollie.url, headers={"Authorization": f"Bearer {key}"})


# -- authorize -------------------------------------------------------------------------


async def test_a_payment_is_created_pending_on_mollies_checkout_page(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider, description="Model One, size A")
    assert auth.status is AuthorizationStatus.PENDING
    assert auth.redirect_url == f"{mollie.url}/checkout/{auth.reference}"
    made = mollie.payment(auth.reference)
    assert made["amount"] == {"currency": "EUR", "value": "12.50"}
    assert (made["description"], made["method"]) == ("Model One, size A", "ideal")
    assert (made["redirectUrl"], made["cancelUrl"]) == (RETURN, RETURN + "?cancelled=1")
    assert made["webhookUrl"] == HOOK
    assert made["metadata"] == {"soldout_payment": "pay_1"}
    assert mollie.calls == [("POST", "/v2/payments", "soldout-pay_1-payment")]


@pytest.mark.parametrize(
    ("amount", "value"),
    [
        (Money(1250, "EUR"), "12.50"),
        (Money(5, "EUR"), "0.05"),
        (Money(1234567, "USD"), "12345.67"),
        (Money(1200, "JPY"), "1200"),
    ],
)
async def test_the_amount_is_sent_with_the_currencys_decimals_and_read_back_exactly(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock, amount: Money, value: str
) -> None:
    auth = await pay(provider, amount=amount, method="creditcard")
    assert mollie.payment(auth.reference)["amount"] == {"currency": amount.currency, "value": value}
    mollie.set_status(auth.reference, "paid")
    event = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    assert event is not None
    assert (event.amount, event.currency) == (amount.amount, amount.currency)


async def test_the_cancel_url_keeps_the_return_urls_query(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider, return_url="https://shop.example/back?claim=clm_1")
    assert mollie.payment(auth.reference)["cancelUrl"] == (
        "https://shop.example/back?claim=clm_1&cancelled=1"
    )


async def test_a_retry_with_the_same_key_is_the_same_payment_and_learns_its_outcome(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    first = await pay(provider)
    assert await pay(provider) == first
    assert len(mollie.payments()) == 1
    mollie.set_status(first.reference, "paid")
    assert await pay(provider) == Authorization(first.reference, AuthorizationStatus.AUTHORIZED)
    assert len(mollie.payments()) == 1


async def test_the_same_key_for_another_amount_is_refused(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    await pay(provider)
    with pytest.raises(InvalidInput):
        await pay(provider, amount=Money(999, "EUR"))
    assert len(mollie.payments()) == 1


@pytest.mark.parametrize(
    ("method", "amount", "return_url", "field"),
    [
        ("paypal", EUR, RETURN, "method"),
        ("ideal", Money(0, "EUR"), RETURN, "amount"),
        ("ideal", EUR, "", "return_url"),
    ],
)
async def test_bad_requests_are_refused_before_asking_mollie(
    provider: MolliePayments,
    mollie: FakeMollie,
    method: str,
    amount: Money,
    return_url: str,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await pay(provider, method=method, amount=amount, return_url=return_url)
    assert refused.value.field == field
    assert mollie.calls == []


async def test_a_method_mollie_refuses_for_the_currency_is_invalid_input(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await pay(provider, amount=Money(1200, "JPY"), method="ideal")
    assert refused.value.field == "method"
    assert mollie.payments() == []


# -- paying on Mollie's page -----------------------------------------------------------


async def test_paying_on_the_page_authorizes_and_capture_takes_nothing_more(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    auth = await pay(provider)
    assert auth.redirect_url is not None
    async with httpx.AsyncClient() as browser:
        page = await browser.get(auth.redirect_url)
        assert "Pay €12.50 — Model One" in page.text
        assert '<select name="issuer">' in page.text
        paid = await browser.post(
            auth.redirect_url, data={"issuer": "ideal_INGBNL2A", "status": "paid"}
        )
    assert (paid.status_code, paid.headers["location"]) == (303, RETURN)
    assert mollie.webhook_calls == [(HOOK, hook(auth.reference))]

    event = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    ref = auth.reference
    assert event == WebhookEvent(
        f"{ref}:paid", EventType.AUTHORIZED, ref, 1250, "EUR", clock.now(), "pay_1"
    )
    await provider.capture(ref, EUR)
    await provider.capture(ref, EUR)
    assert changes(mollie) == [("POST", "/v2/payments", "soldout-pay_1-payment")]
    assert await provider.transaction("pay_1", ref) == Transaction(
        ref, "ideal", 1250, "EUR", "captured", 1250, 0, "pay_1"
    )


@pytest.mark.parametrize(
    ("status", "line"), [("failed", "declined"), ("expired", "declined"), ("canceled", "voided")]
)
async def test_a_payment_that_did_not_go_through_is_declined(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock, status: str, line: str
) -> None:
    auth = await pay(provider)
    back = await choose(auth, status)
    expected = RETURN + "?cancelled=1" if status == "canceled" else RETURN
    assert back.headers["location"] == expected
    event = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    assert event is not None
    kind = EventType.CANCELLED if status == "canceled" else EventType.DECLINED
    assert (event.id, event.type) == (f"{auth.reference}:{status}", kind)
    found = await provider.transaction("pay_1", auth.reference)
    assert found is not None
    assert found.status == line
    with pytest.raises(PaymentFailed):
        await provider.capture(auth.reference, EUR)


async def test_an_open_payment_says_nothing_yet(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    auth = await pay(provider)
    back = await choose(auth, "open")  # the bank has not confirmed
    assert back.headers["location"] == RETURN
    assert mollie.webhook_calls == []  # Mollie calls only when the status changes
    assert await provider.verify_webhook(hook(auth.reference), {}, clock.now()) is None
    found = await provider.transaction("pay_1", auth.reference)
    assert found is not None
    assert (found.status, found.captured) == ("pending", 0)
    with pytest.raises(PaymentFailed):
        await provider.capture(auth.reference, EUR)


async def test_an_authorized_card_payment_is_captured_for_real(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    auth = await pay(provider, method="creditcard")
    mollie.set_status(auth.reference, "authorized")
    event = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    assert event is not None
    assert event.type is EventType.AUTHORIZED
    await provider.capture(auth.reference, EUR)
    await provider.capture(auth.reference, EUR)
    key = f"soldout-{auth.reference}-capture"
    assert changes(mollie)[1:] == [("POST", f"/v2/payments/{auth.reference}/captures", key)]
    assert mollie.payment(auth.reference)["status"] == "paid"


async def test_capture_of_another_amount_fails(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider)
    mollie.set_status(auth.reference, "paid")
    with pytest.raises(PaymentFailed):
        await provider.capture(auth.reference, Money(1249, "EUR"))


async def test_without_a_webhook_url_soldout_learns_the_outcome_by_asking(
    mollie: FakeMollie, clock: FakeClock
) -> None:
    local = MolliePayments(API_KEY, webhook_url=None, api_base=mollie.url, clock=clock)
    auth = await pay(local)
    assert "webhookUrl" not in mollie.payment(auth.reference)
    await choose(auth, "paid")
    assert mollie.webhook_calls == []
    found = await local.transaction("pay_1")
    assert found is not None
    assert (found.reference, found.status) == (auth.reference, "captured")


# -- webhooks --------------------------------------------------------------------------


async def test_duplicate_webhooks_are_one_event_and_a_refund_is_another(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    auth = await pay(provider)
    mollie.set_status(auth.reference, "paid")
    first = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    again = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    assert first == again
    clock.advance(60)
    mollie.refund_in_dashboard(auth.reference)
    assert len(mollie.webhook_calls) == 2
    refunded = await provider.verify_webhook(mollie.webhook_calls[1][1], {}, clock.now())
    assert refunded is not None
    assert (refunded.id, refunded.type, refunded.amount) == (
        f"{auth.reference}:refunded",
        EventType.REFUNDED,
        1250,
    )
    assert refunded.created == clock.now()


async def test_a_webhook_for_a_payment_mollie_does_not_know_is_rejected(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        await provider.verify_webhook(b"id=tr_Forged12345", {}, clock.now())
    assert rejected.value.field == "id"
    assert mollie.calls == [("GET", "/v2/payments/tr_Forged12345", None)]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"id=",
        b"id=ord_pbjz8x",
        b"id=tr_WDqYK6vllg&id=tr_WDqYK6vllh",
        b"payment=tr_WDqYK6vllg",
        b'{"id": "tr_WDqYK6vllg"}',
        b"id=tr_WDqYK6vllg%00",
        b"id=tr_../../v2/refunds",
        b"\xff\xfe",
    ],
)
async def test_a_malformed_webhook_is_rejected_without_asking_mollie(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock, body: bytes
) -> None:
    with pytest.raises(WebhookRejected):
        await provider.verify_webhook(body, {}, clock.now())
    assert mollie.calls == []


async def test_another_shops_payment_is_not_ours(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    async with mollie_api(mollie) as api:
        made = await api.post(
            "/v2/payments",
            json={
                "amount": {"currency": "EUR", "value": "5.00"},
                "description": "another shop's order",
                "redirectUrl": "https://other.example/thanks",
            },
        )
    assert made.status_code == 201
    other = made.json()["id"]
    mollie.set_status(other, "paid")
    assert await provider.verify_webhook(hook(other), {}, clock.now()) is None
    assert await provider.transactions() == []


async def test_the_fake_delivers_its_webhooks_over_http(
    mollie: FakeMollie, clock: FakeClock
) -> None:
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()

    async def webhook(request: Request) -> Response:
        received.put((request.headers["content-type"], await request.body()))
        return Response()

    shop = LoopbackServer(Starlette(routes=[Route("/hook", webhook, methods=["POST"])]))
    shop.start()
    try:
        mollie.send_webhooks = True
        provider = MolliePayments(
            API_KEY, webhook_url=f"{shop.url}/hook", api_base=mollie.url, clock=clock
        )
        auth = await pay(provider)
        await choose(auth, "paid")
        kind, body = await asyncio.to_thread(received.get, timeout=WAIT)
    finally:
        shop.stop()
    assert (kind, body) == ("application/x-www-form-urlencoded", hook(auth.reference))
    event = await provider.verify_webhook(body, {"content-type": kind}, clock.now())
    assert event is not None
    assert event.type is EventType.AUTHORIZED


# -- refund and abandon ----------------------------------------------------------------


async def test_a_paid_payment_is_refunded_once_keeping_the_reason(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider)
    mollie.set_status(auth.reference, "paid")
    reason = "refunded: the claim expired before the payment arrived, and the unit is gone " * 3
    await provider.refund(auth.reference, EUR, reason)
    await provider.refund(auth.reference, EUR, reason)
    (refund,) = mollie.refunds(auth.reference)
    assert refund["amount"] == {"currency": "EUR", "value": "12.50"}
    assert refund["description"] == reason[:140]
    key = f"soldout-{auth.reference}-refund"
    assert changes(mollie)[1:] == [("POST", f"/v2/payments/{auth.reference}/refunds", key)]
    found = await provider.transaction("pay_1", auth.reference)
    assert found is not None
    assert (found.status, found.captured, found.refunded) == ("refunded", 1250, 1250)


async def test_a_payment_refunded_in_the_dashboard_is_not_refunded_again(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider)
    mollie.set_status(auth.reference, "paid")
    mollie.refund_in_dashboard(auth.reference)
    await provider.refund(auth.reference, EUR, "sold out")
    assert len(mollie.refunds(auth.reference)) == 1
    with pytest.raises(PaymentFailed):
        await provider.capture(auth.reference, EUR)


async def test_refund_of_an_open_card_payment_cancels_it(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider, method="creditcard")
    await provider.refund(auth.reference, EUR)
    assert mollie.payment(auth.reference)["status"] == "canceled"
    key = f"soldout-{auth.reference}-cancel"
    assert changes(mollie)[1:] == [("DELETE", f"/v2/payments/{auth.reference}", key)]
    await provider.refund(auth.reference, EUR)  # canceled: nothing more to give back
    assert len(changes(mollie)) == 2


async def test_refund_of_an_open_ideal_payment_waits_for_its_outcome(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    auth = await pay(provider)  # iDEAL: Mollie cannot cancel it
    with caplog.at_level(logging.INFO, "soldout.payments.mollie_provider"):
        await provider.refund(auth.reference, EUR, "claim released")
    assert "cannot be canceled" in caplog.text
    assert mollie.payment(auth.reference)["status"] == "open"
    assert len(changes(mollie)) == 1
    # The fan pays anyway: the event comes, and soldout refunds it then.
    mollie.set_status(auth.reference, "paid")
    event = await provider.verify_webhook(hook(auth.reference), {}, clock.now())
    assert event is not None
    assert event.type is EventType.AUTHORIZED
    await provider.refund(auth.reference, EUR, "claim released")
    assert len(mollie.refunds(auth.reference)) == 1


async def test_abandon_closes_the_page_of_a_cancelable_payment(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider, method="creditcard")
    await provider.abandon(auth.reference)
    assert mollie.payment(auth.reference)["status"] == "canceled"
    assert auth.redirect_url is not None
    async with httpx.AsyncClient() as browser:
        page = await browser.get(auth.redirect_url)
    assert (page.status_code, page.headers["location"]) == (303, RETURN)


async def test_abandon_leaves_an_open_ideal_payment_alone(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    auth = await pay(provider)
    await provider.abandon(auth.reference)
    assert mollie.payment(auth.reference)["status"] == "open"
    assert len(changes(mollie)) == 1


# -- the ledger ------------------------------------------------------------------------


async def test_transactions_read_every_page_oldest_first(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    mollie.page_size = 2
    made = [(await pay(provider, key=f"pay_{n}")).reference for n in range(5)]
    async with mollie_api(mollie) as api:  # another shop's: not in soldout's ledger
        other = await api.post(
            "/v2/payments",
            json={
                "amount": {"currency": "EUR", "value": "1.00"},
                "description": "other",
                "redirectUrl": "https://other.example/",
            },
        )
    assert other.status_code == 201
    lines = await provider.transactions()
    assert [(t.reference, t.merchant_reference) for t in lines] == [
        (ref, f"pay_{n}") for n, ref in enumerate(made)
    ]
    assert [c for c in mollie.calls if c[:2] == ("GET", "/v2/payments")] == [
        ("GET", "/v2/payments", None)
    ] * 3


async def test_transactions_since_stop_at_the_first_older_payment(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    mollie.page_size = 1
    start = clock.now()
    made = []
    for n in range(5):
        made.append((await pay(provider, key=f"pay_{n}")).reference)
        clock.advance(3600)
    lines = await provider.transactions(since=start + timedelta(hours=3))
    assert [t.reference for t in lines] == made[3:]
    assert len([c for c in mollie.calls if c[:2] == ("GET", "/v2/payments")]) == 3


async def test_a_payment_whose_answer_was_lost_is_found_by_listing(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    hasty = MolliePayments(API_KEY, webhook_url=HOOK, api_base=mollie.url, timeout=0.3, clock=clock)
    mollie.hang_after("POST", "/v2/payments")  # made at Mollie, and never answered
    with pytest.raises(TimeoutError):
        await pay(hasty)
    (made,) = mollie.payments()
    found = await provider.transaction("pay_1")
    assert found == Transaction(made["id"], "ideal", 1250, "EUR", "pending", 0, 0, "pay_1")
    retried = await pay(provider)  # the same key: the same payment, its page at last
    page = made["_links"]["checkout"]["href"]
    assert (retried.reference, retried.redirect_url) == (made["id"], page)
    assert len(mollie.payments()) == 1
    assert await provider.transaction("pay_never_sent") is None


async def test_transaction_looks_back_one_day(
    provider: MolliePayments, mollie: FakeMollie, clock: FakeClock
) -> None:
    auth = await pay(provider)
    clock.advance(25 * 3600)
    await pay(provider, key="pay_2")
    assert await provider.transaction("pay_1") is None
    found = await provider.transaction("pay_1", auth.reference)  # asked by its id: found
    assert found is not None
    assert found.reference == auth.reference


async def test_a_payment_without_an_order_is_in_the_ledger(
    provider: MolliePayments, mollie: FakeMollie
) -> None:
    lost = mollie.payment_without_order(1250, "EUR", "pay_lost")
    line = Transaction(lost, "ideal", 1250, "EUR", "captured", 1250, 0, "pay_lost")
    assert await provider.transactions() == [line]
    assert await provider.transaction("pay_lost") == line


# -- the API key -----------------------------------------------------------------------


async def test_a_wrong_api_key_is_a_clear_error_that_never_shows_the_key(
    mollie: FakeMollie, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "test_WrongKeyWrongKeyWrongKey12345"
    provider = MolliePayments(wrong, webhook_url=None, api_base=mollie.url)
    with caplog.at_level(logging.DEBUG), pytest.raises(PaymentFailed) as refused:
        await pay(provider)
    assert "API key" in refused.value.message
    told = "".join(traceback.format_exception(refused.value))
    assert wrong not in told
    assert wrong not in caplog.text
    assert mollie.calls == [("POST", "/v2/payments", "soldout-pay_1-payment")]
    assert mollie.payments() == []


@pytest.mark.parametrize("key", ["sk_live_SecretSecret123", "live_has-a-dash", "test_with space"])
def test_a_key_that_is_no_mollie_key_is_refused_without_quoting_it(key: str) -> None:
    with pytest.raises(ValueError, match="Mollie API key") as refused:
        MolliePayments(key, webhook_url=None)
    assert key not in str(refused.value)


# -- the fake is as strict as Mollie -----------------------------------------------------

GOOD: dict[str, Any] = {
    "amount": {"currency": "EUR", "value": "12.50"},
    "description": "Model One",
    "redirectUrl": RETURN,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": {"currency": "EUR", "value": "12.5"}}, "amount.value"),
        ({"amount": {"currency": "EUR", "value": 12.5}}, "amount.value"),
        ({"amount": {"currency": "JPY", "value": "1200.00"}}, "amount.value"),
        ({"amount": {"currency": "EUR", "value": "0.00"}}, "amount.value"),
        ({"amount": {"currency": "XXX", "value": "12.50"}}, "amount.currency"),
        ({"description": ""}, "description"),
        ({"redirectUrl": None}, "redirectUrl"),
        ({"webhookUrl": "ftp://shop.example/hook"}, "webhookUrl"),
        ({"method": "cash"}, "method"),
    ],
)
async def test_the_fake_refuses_what_mollie_refuses(
    mollie: FakeMollie, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    async with mollie_api(mollie) as api:
        refused = await api.post("/v2/payments", json=body)
    assert refused.status_code == 422
    assert (refused.json()["status"], refused.json()["field"]) == (422, field)
    assert mollie.payments() == []


async def test_the_fake_wants_the_key_and_guards_idempotency_keys(mollie: FakeMollie) -> None:
    async with mollie_api(mollie, "test_SomebodyElse1234567890") as stranger:
        refused = await stranger.post("/v2/payments", json=GOOD)
    assert refused.status_code == 401
    assert refused.json()["title"] == "Unauthorized Request"
    assert set(refused.json()) == {"status", "title", "detail", "_links"}
    async with mollie_api(mollie) as api:
        first = await api.post("/v2/payments", json=GOOD, headers={"Idempotency-Key": "k"})
        again = await api.post("/v2/payments", json=GOOD, headers={"Idempotency-Key": "k"})
        other = await api.post(
            "/v2/payments", json={**GOOD, "description": "x"}, headers={"Idempotency-Key": "k"}
        )
        garbled = await api.post(
            "/v2/payments", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert (other.status_code, garbled.status_code) == (422, 400)
    assert len(mollie.payments()) == 1
