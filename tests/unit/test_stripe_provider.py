"""The Stripe provider, through the official SDK, against the local fake of Stripe's API."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import stripe

from soldout.domain.errors import IdempotencyKeyReused, InvalidInput, PaymentFailed, WebhookRejected
from soldout.domain.money import Money
from soldout.payments import (
    Authorization,
    AuthorizationStatus,
    EventType,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)
from soldout.payments.stripe_provider import StripePayments
from soldout.payments.stripe_units import from_stripe, to_stripe
from tests.fakes.stripe_api import FakeStripe, sign

# The SDK hands httpx its form body as `data=`, which httpx deprecates; with warnings as
# errors the SDK would report every POST as a network failure.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

API_KEY = "sk_test_" + "51Hk9ZrAqTestKeyForTheFakeOnly"
WEBHOOK_SECRET = "whsec_" + "fake0secret0for0tests0only0000"
EUR12 = Money(1200, "EUR")
RETURN = "https://shop.test/claims/c1/paid?payment=pay_1"


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe(API_KEY, WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture(autouse=True)
def no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK would write ~/.config/stripe/telemetry_id and report timings to Stripe."""
    monkeypatch.setattr(stripe, "enable_telemetry", False)


@pytest.fixture
def fake(stripe_server: FakeStripe) -> FakeStripe:
    stripe_server.reset()
    return stripe_server


@pytest.fixture
async def provider(fake: FakeStripe) -> AsyncIterator[StripePayments]:
    p = StripePayments(API_KEY, WEBHOOK_SECRET, api_base=fake.url, timeout=2)
    yield p
    await p.close()


async def open_page(
    provider: StripePayments,
    reference: str = "pay_1",
    amount: Money = EUR12,
    deadline: datetime | None = None,
) -> Authorization:
    return await provider.authorize(
        PaymentRequest(
            method="card",
            token="",
            amount=amount,
            reference=reference,
            idempotency_key=reference,
            description="Model One",
            return_url=RETURN,
            expires_at=deadline or datetime.now(UTC) + timedelta(minutes=10),
        )
    )


async def on_page(url: str, **form: str) -> httpx.Response:
    async with httpx.AsyncClient() as browser:
        if not form:
            return await browser.get(url)
        return await browser.post(url, data=form)


async def verified(provider: StripePayments, fake: FakeStripe, kind: str) -> WebhookEvent | None:
    """The latest event of `kind` the fake sent, as the provider reads it."""
    (body, headers), *_ = reversed(fake.events_of(kind))
    return await provider.verify_webhook(body, headers, datetime.now(UTC))


async def authorized(provider: StripePayments, fake: FakeStripe, reference: str = "pay_1") -> str:
    """A paid page: the PaymentIntent's id, as soldout learns it from the webhook."""
    auth = await open_page(provider, reference)
    fake.complete(auth.reference)
    event = await verified(provider, fake, "checkout.session.completed")
    assert event is not None
    assert event.type is EventType.AUTHORIZED
    return event.reference


# -- authorize -------------------------------------------------------------------------


async def test_authorize_opens_a_checkout_session_for_the_amount(
    provider: StripePayments, fake: FakeStripe
) -> None:
    deadline = datetime.now(UTC) + timedelta(minutes=10)
    auth = await open_page(provider, deadline=deadline)
    (session,) = fake.all("checkout.session")
    assert (auth.reference, auth.status, auth.redirect_url) == (
        session["id"],
        AuthorizationStatus.PENDING,
        f"{fake.url}/pay/{session['id']}",
    )
    assert (session["amount_total"], session["currency"], session["mode"]) == (
        1200,
        "eur",
        "payment",
    )
    assert session["client_reference_id"] == "pay_1"
    assert session["metadata"] == {"soldout_payment": "pay_1"}
    assert (session["success_url"], session["cancel_url"]) == (RETURN, RETURN + "&cancelled=1")
    assert session["expires_at"] == int((deadline + timedelta(minutes=31)).timestamp())
    assert fake.calls == [("POST", "/v1/checkout/sessions", "soldout-pay_1-session")]


async def test_a_retried_authorize_answers_the_same_session(
    provider: StripePayments, fake: FakeStripe
) -> None:
    deadline = datetime.now(UTC) + timedelta(minutes=3)
    first = await open_page(provider, deadline=deadline)
    again = await open_page(provider, deadline=deadline)
    assert again == first
    assert len(fake.all("checkout.session")) == 1
    assert [key for _, _, key in fake.calls] == ["soldout-pay_1-session"] * 2


async def test_a_key_reused_for_another_amount_is_refused(
    provider: StripePayments, fake: FakeStripe
) -> None:
    await open_page(provider)
    with pytest.raises(IdempotencyKeyReused):
        await open_page(provider, amount=Money(999, "EUR"))
    assert len(fake.all("checkout.session")) == 1


async def test_an_answer_lost_after_the_session_was_made_is_recovered_by_the_retry(
    fake: FakeStripe,
) -> None:
    """Stripe made the session but the answer never came: the SDK asks again under the
    same key and gets the first answer; no second session."""
    fake.hang_after("/v1/checkout/sessions")
    provider = StripePayments(API_KEY, WEBHOOK_SECRET, api_base=fake.url, timeout=0.2)
    try:
        auth = await open_page(provider)
    finally:
        await provider.close()
    (session,) = fake.all("checkout.session")
    assert auth.reference == session["id"]
    assert fake.calls == [("POST", "/v1/checkout/sessions", "soldout-pay_1-session")] * 2


async def test_authorize_needs_a_return_url(provider: StripePayments, fake: FakeStripe) -> None:
    with pytest.raises(InvalidInput) as refused:
        await provider.authorize(
            PaymentRequest(
                method="card", token="", amount=EUR12, reference="p", idempotency_key="p"
            )
        )
    assert refused.value.field == "return_url"
    assert fake.calls == []


async def test_what_stripe_refuses_is_invalid_input_naming_the_parameter(
    provider: StripePayments,
) -> None:
    request = PaymentRequest(
        method="card",
        token="",
        amount=EUR12,
        reference="pay_1",
        idempotency_key="pay_1",
        description="M" * 5001,  # longer than Stripe takes
        return_url=RETURN,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )
    with pytest.raises(InvalidInput) as refused:
        await provider.authorize(request)
    assert refused.value.field == "line_items[0][price_data][product_data][name]"


async def test_a_total_above_stripes_eight_digits_is_refused_in_words_before_stripe(
    provider: StripePayments, fake: FakeStripe
) -> None:
    """Not Stripe's parameter name, which no fan or maker can act on."""
    with pytest.raises(InvalidInput) as refused:
        await open_page(provider, amount=Money(100_000_000, "EUR"))
    assert (refused.value.code, refused.value.field) == ("amount_too_large", None)
    assert "lower the price" in str(refused.value)
    assert fake.all("checkout.session") == []
    assert (await open_page(provider, amount=Money(99_999_999, "EUR"))).redirect_url


@pytest.mark.parametrize(
    ("ours", "theirs", "shown"),
    [
        (Money(150_000, "HUF"), 15_000_000, "HUF150,000"),  # whole forints to soldout
        (Money(1200, "EUR"), 1200, "€12.00"),
        (Money(5000, "JPY"), 5000, "¥5,000"),  # whole yen to both
        (Money(12_340, "KWD"), 12_340, "KWD12.340"),  # thousandths to both
    ],
)
async def test_stripe_is_sent_and_read_in_its_own_units(
    provider: StripePayments, fake: FakeStripe, ours: Money, theirs: int, shown: str
) -> None:
    """Stripe counts forints in hundredths where soldout counts whole forints: sent as is,
    a fan paid a hundredth of the price."""
    auth = await open_page(provider, amount=ours)
    (session,) = fake.all("checkout.session")
    assert session["amount_total"] == theirs
    assert auth.redirect_url is not None
    assert f"Pay {shown} to Model One" in (await on_page(auth.redirect_url)).text
    fake.complete(auth.reference)
    event = await verified(provider, fake, "checkout.session.completed")
    assert event is not None
    assert (event.amount, event.currency) == (ours.amount, ours.currency)
    await provider.capture(event.reference, ours)
    [line] = await provider.transactions()
    assert (line.amount, line.captured) == (ours.amount, ours.amount)
    await provider.refund(event.reference, ours)
    (refund,) = fake.all("refund")
    assert refund["amount"] == theirs


def test_an_amount_stripe_cannot_take_is_refused_in_words() -> None:
    for money in (Money(12_345, "KWD"), Money(10**12, "EUR")):
        with pytest.raises(InvalidInput) as refused:
            to_stripe(money)
        assert refused.value.field is None
        assert refused.value.code in ("amount_not_payable", "amount_too_large")
    assert to_stripe(Money(10**9, "IDR")) == 10**11  # IDR may have twelve digits
    assert from_stripe(10**11, "idr") == 10**9


# -- the hosted page and the webhook ---------------------------------------------------


async def test_paying_on_the_page_authorizes_and_capture_takes_the_money(
    provider: StripePayments, fake: FakeStripe
) -> None:
    auth = await open_page(provider)
    assert auth.redirect_url is not None
    page = await on_page(auth.redirect_url)
    assert "Pay €12.00 to Model One" in page.text
    assert 'value="4242 4242 4242 4242"' in page.text
    paid = await on_page(auth.redirect_url, card="4242 4242 4242 4242", use="card")
    assert (paid.status_code, paid.headers["location"]) == (303, RETURN)

    event = await verified(provider, fake, "checkout.session.completed")
    assert event is not None
    (intent,) = fake.all("payment_intent")
    assert (intent["capture_method"], intent["metadata"]) == (
        "manual",
        {"soldout_payment": "pay_1"},
    )
    assert (event.type, event.reference, event.amount, event.currency) == (
        EventType.AUTHORIZED,
        intent["id"],
        1200,
        "EUR",
    )
    assert event.merchant_reference == "pay_1"
    assert await provider.transaction("pay_1", auth.reference) == Transaction(
        intent["id"], "card", 1200, "EUR", "authorized", 0, 0, "pay_1"
    )
    await provider.capture(event.reference, EUR12)
    await provider.capture(event.reference, EUR12)  # a no-op
    assert await provider.transaction("pay_1", event.reference) == Transaction(
        intent["id"], "card", 1200, "EUR", "captured", 1200, 0, "pay_1"
    )
    captures = [c for c in fake.calls if c[1].endswith("/capture")]
    assert captures == [
        ("POST", f"/v1/payment_intents/{intent['id']}/capture", "soldout-pay_1-capture")
    ]


async def test_a_declined_card_keeps_the_page_open(
    provider: StripePayments, fake: FakeStripe
) -> None:
    auth = await open_page(provider)
    assert auth.redirect_url is not None
    declined = await on_page(auth.redirect_url, card="4242 4242 4242 4242", use="decline")
    assert declined.status_code == 402
    assert "Your card was declined" in declined.text
    assert fake.events_of("checkout.session.completed") == []
    assert await verified(provider, fake, "payment_intent.payment_failed") is None
    line = await provider.transaction("pay_1", auth.reference)
    assert line is not None
    assert line.status == "pending"
    paid = await on_page(auth.redirect_url, card="4242 4242 4242 4242", use="card")
    assert paid.status_code == 303


async def test_a_3ds_card_is_pending_until_the_challenge_is_passed(
    provider: StripePayments, fake: FakeStripe
) -> None:
    auth = await open_page(provider)
    assert auth.redirect_url is not None
    challenge = await on_page(auth.redirect_url, card="4242 4242 4242 4242", use="3ds")
    assert challenge.status_code == 200
    assert "Complete" in challenge.text
    assert "Fail" in challenge.text
    line = await provider.transaction("pay_1", auth.reference)
    assert line is not None
    assert line.status == "pending"
    assert fake.events_of("checkout.session.completed") == []
    passed = await on_page(f"{auth.redirect_url}/challenge", action="complete")
    assert passed.status_code == 303
    event = await verified(provider, fake, "checkout.session.completed")
    assert event is not None
    assert event.type is EventType.AUTHORIZED


async def test_a_failed_3ds_challenge_takes_nothing(
    provider: StripePayments, fake: FakeStripe
) -> None:
    auth = await open_page(provider)
    fake.complete(auth.reference, "3ds")
    fake.complete(auth.reference, "3ds_fails")
    line = await provider.transaction("pay_1", auth.reference)
    assert line is not None
    assert (line.status, line.captured) == ("pending", 0)
    assert fake.events_of("checkout.session.completed") == []


@pytest.mark.parametrize(
    ("secret", "age", "field"),
    [
        ("whsec_" + "forged" * 5, 0, "Stripe-Signature"),  # not Stripe's secret
        (WEBHOOK_SECRET, 600, "Stripe-Signature"),  # ten minutes old
    ],
    ids=["forged", "stale"],
)
async def test_a_forged_or_stale_webhook_is_rejected(
    provider: StripePayments, fake: FakeStripe, secret: str, age: int, field: str
) -> None:
    await authorized(provider, fake)
    (body, _), *_ = fake.events_of("checkout.session.completed")
    header = sign(body, secret, int(time.time()) - age)
    with pytest.raises(WebhookRejected) as rejected:
        await provider.verify_webhook(body, {"Stripe-Signature": header}, datetime.now(UTC))
    assert rejected.value.field == field


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        (b'{"id": "evt_1"}', {}, "Stripe-Signature"),
        (b"not json", None, "body"),
    ],
    ids=["unsigned", "not json"],
)
async def test_an_unsigned_or_unreadable_webhook_is_rejected(
    provider: StripePayments, body: bytes, headers: dict[str, str] | None, field: str
) -> None:
    headers = {"stripe-signature": sign(body, WEBHOOK_SECRET)} if headers is None else headers
    with pytest.raises(WebhookRejected) as rejected:
        await provider.verify_webhook(body, headers, datetime.now(UTC))
    assert rejected.value.field == field


async def test_events_soldout_does_not_act_on_are_genuine_but_ignored(
    provider: StripePayments, fake: FakeStripe
) -> None:
    await provider.capture(await authorized(provider, fake), EUR12)
    others = [
        (b, h) for b, h in fake.events if json.loads(b)["type"] != "checkout.session.completed"
    ]
    assert {json.loads(b)["type"] for b, _ in others} >= {"charge.succeeded", "charge.captured"}
    for body, headers in others:
        assert await provider.verify_webhook(body, headers, datetime.now(UTC)) is None


# -- refunds and closing pages ---------------------------------------------------------


async def test_refunding_a_captured_payment_refunds_once_with_the_reason(
    provider: StripePayments, fake: FakeStripe
) -> None:
    intent = await authorized(provider, fake)
    await provider.capture(intent, EUR12)
    await provider.refund(intent, EUR12, "the unit was gone")
    await provider.refund(intent, EUR12, "the unit was gone")
    (refund,) = fake.all("refund")
    assert (refund["amount"], refund["payment_intent"], refund["reason"]) == (
        1200,
        intent,
        "requested_by_customer",
    )
    assert refund["metadata"] == {"soldout_payment": "pay_1", "reason": "the unit was gone"}
    line = await provider.transaction("pay_1", intent)
    assert line is not None
    assert (line.status, line.captured, line.refunded) == (
        "refunded",
        1200,
        1200,
    )
    event = await verified(provider, fake, "charge.refunded")
    assert event is not None
    assert (event.type, event.reference, event.merchant_reference, event.amount) == (
        EventType.REFUNDED,
        intent,
        "pay_1",
        1200,
    )


async def test_refunding_an_authorized_payment_voids_it(
    provider: StripePayments, fake: FakeStripe
) -> None:
    intent = await authorized(provider, fake)
    await provider.refund(intent, EUR12)
    await provider.refund(intent, EUR12)
    assert fake.get(intent)["status"] == "canceled"
    assert fake.all("refund") == []
    (charge,) = fake.all("charge")
    assert charge["amount_captured"] == 0
    line = await provider.transaction("pay_1", intent)
    assert line is not None
    assert (line.status, line.captured) == ("voided", 0)
    cancels = [key for _, path, key in fake.calls if path.endswith("/cancel")]
    assert cancels == ["soldout-pay_1-cancel"]


async def test_refunding_an_open_page_closes_it(provider: StripePayments, fake: FakeStripe) -> None:
    auth = await open_page(provider)
    await provider.refund(auth.reference, EUR12)
    assert fake.get(auth.reference)["status"] == "expired"
    assert fake.all("payment_intent") == []


async def test_a_refund_in_stripes_dashboard_arrives_as_refunded(
    provider: StripePayments, fake: FakeStripe
) -> None:
    intent = await authorized(provider, fake)
    await provider.capture(intent, EUR12)
    fake.refund_in_dashboard(intent)
    event = await verified(provider, fake, "charge.refunded")
    assert event is not None
    assert (event.type, event.reference) == (EventType.REFUNDED, intent)


async def test_capture_checks_the_amount_and_that_money_was_reserved(
    provider: StripePayments, fake: FakeStripe
) -> None:
    with pytest.raises(PaymentFailed):
        await provider.capture((await open_page(provider)).reference, EUR12)  # nothing paid yet
    intent = await authorized(provider, fake, "pay_2")
    with pytest.raises(InvalidInput):
        await provider.capture(intent, Money(1100, "EUR"))
    assert fake.get(intent)["status"] == "requires_capture"


async def test_abandon_closes_an_open_page_for_good(
    provider: StripePayments, fake: FakeStripe
) -> None:
    auth = await open_page(provider)
    assert auth.redirect_url is not None
    await provider.abandon(auth.reference)
    await provider.abandon(auth.reference)  # already closed: nothing to do
    refused = await on_page(auth.redirect_url, card="4242 4242 4242 4242", use="card")
    assert refused.status_code == 410
    with pytest.raises(ValueError, match="expired"):
        fake.complete(auth.reference)
    event = await verified(provider, fake, "checkout.session.expired")
    assert event is not None
    assert (event.type, event.reference, event.merchant_reference, event.amount) == (
        EventType.DECLINED,
        auth.reference,
        "pay_1",
        1200,
    )
    line = await provider.transaction("pay_1", auth.reference)
    assert line is not None
    assert line.status == "declined"


async def test_abandon_leaves_a_paid_page_alone(provider: StripePayments, fake: FakeStripe) -> None:
    auth = await open_page(provider)
    fake.complete(auth.reference)
    await provider.abandon(auth.reference)
    assert fake.get(auth.reference)["status"] == "complete"


# -- the ledger ------------------------------------------------------------------------


async def test_transactions_read_every_page_oldest_first(
    provider: StripePayments, fake: FakeStripe
) -> None:
    fake.page_size = 2
    made = [fake.charge_without_session(100 + i, "eur", f"pay_{i}") for i in range(5)]
    lines = await provider.transactions()
    assert [line.reference for line in lines] == made
    assert lines[0] == Transaction(made[0], "card", 100, "EUR", "captured", 100, 0, "pay_0")
    assert [c for c in fake.calls if c[1] == "/v1/payment_intents"] == [
        ("GET", "/v1/payment_intents", None)
    ] * 3
    assert await provider.transactions(since=datetime.now(UTC) + timedelta(minutes=1)) == []


async def test_transaction_without_a_reference_is_found_by_listing_sessions(
    provider: StripePayments, fake: FakeStripe
) -> None:
    fake.page_size = 1
    first = await open_page(provider, "pay_a")
    for reference in ("pay_b", "pay_c"):
        await open_page(provider, reference)
    line = await provider.transaction("pay_a")
    assert line == Transaction(first.reference, "card", 1200, "EUR", "pending", 0, 0, "pay_a")
    assert len([c for c in fake.calls if c[1] == "/v1/checkout/sessions" and c[0] == "GET"]) == 3
    assert await provider.transaction("pay_never_sent") is None
    assert await provider.transaction("pay_a", "cs_test_unknown") is None


# -- keys and secrets ------------------------------------------------------------------


async def test_a_wrong_api_key_is_a_clear_error_that_never_shows_the_key(
    fake: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk_test_" + "notTheRightKeyAtAll0123456789"
    provider = StripePayments(wrong, WEBHOOK_SECRET, api_base=fake.url)
    try:
        with pytest.raises(PaymentFailed, match="API key") as failed:
            await open_page(provider)
    finally:
        await provider.close()
    assert wrong not in str(failed.value)
    assert wrong not in str(failed.value.__cause__)  # Stripe's own error shows its end only
    assert wrong not in caplog.text
    assert fake.all("checkout.session") == []


async def test_the_key_is_never_logged_on_a_whole_payment(
    provider: StripePayments, fake: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    intent = await authorized(provider, fake)
    await provider.capture(intent, EUR12)
    await provider.refund(intent, EUR12)
    assert caplog.records  # the SDK and httpx did log
    assert API_KEY not in caplog.text


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("pk_test_" + "publishable0key0x", WEBHOOK_SECRET),
        (API_KEY, "not_a_signing_secret"),
    ],
    ids=["publishable key", "not a signing secret"],
)
def test_a_key_or_secret_of_the_wrong_kind_is_refused_without_echoing_it(
    key: str, secret: str
) -> None:
    with pytest.raises(ValueError, match="Stripe") as refused:
        StripePayments(key, secret)
    assert key not in str(refused.value)
    assert secret not in str(refused.value)


async def test_unreachable_stripe_is_payment_failed() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        base = f"http://127.0.0.1:{closed.getsockname()[1]}"
        provider = StripePayments(API_KEY, WEBHOOK_SECRET, api_base=base, timeout=1)
        try:
            with pytest.raises(PaymentFailed, match="could not be reached") as failed:
                await open_page(provider)
        finally:
            await provider.close()
    assert API_KEY not in str(failed.value)


# -- the fake itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"mode": "payment", "success_url": "https://x", "colour": "red"}, "colour"),
        ({"mode": "payment"}, "success_url"),
        (
            {
                "mode": "payment",
                "success_url": "https://x",
                "line_items[0][price_data][currency]": "EUR",
                "line_items[0][price_data][unit_amount]": "100",
                "line_items[0][price_data][product_data][name]": "x",
                "line_items[0][quantity]": "1",
            },
            "line_items[0][price_data][currency]",
        ),
        (
            {
                "mode": "payment",
                "success_url": "https://x",
                "line_items[0][price_data][currency]": "eur",
                "line_items[0][price_data][unit_amount]": "0",
                "line_items[0][price_data][product_data][name]": "x",
                "line_items[0][quantity]": "1",
            },
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {
                "mode": "payment",
                "success_url": "https://x",
                "line_items[0][price_data][currency]": "eur",
                "line_items[0][price_data][unit_amount]": "100",
                "line_items[0][price_data][product_data][name]": "x",
                "line_items[0][quantity]": "1",
                "expires_at": str(int(time.time()) + 60),
            },
            "expires_at",
        ),
    ],
)
async def test_the_fake_refuses_what_stripe_refuses(
    fake: FakeStripe, form: dict[str, str], param: str
) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as client:
        answer = await client.post(
            "/v1/checkout/sessions", data=form, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        unauthorized = await client.get("/v1/payment_intents")
    assert (answer.status_code, answer.json()["error"]["param"]) == (400, param)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["type"] == "invalid_request_error"


async def test_the_fake_posts_its_signed_events_to_the_webhook_url(
    provider: StripePayments, fake: FakeStripe
) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    arrived, loop = asyncio.Event(), asyncio.get_running_loop()

    class Inbox(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers)))
            loop.call_soon_threadsafe(arrived.set)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    inbox = ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
    threading.Thread(target=inbox.serve_forever, args=(0.01,), daemon=True).start()
    try:
        fake.webhook_url = f"http://127.0.0.1:{inbox.server_address[1]}/webhooks/stripe"
        auth = await open_page(provider)
        fake.complete(auth.reference)
        while len(received) < len(fake.events):  # the fake posts from its own thread
            await asyncio.wait_for(arrived.wait(), 5)
            arrived.clear()
    finally:
        inbox.shutdown()
        inbox.server_close()
    assert len(received) == len(fake.events)
    completed = [
        (b, h) for b, h in received if json.loads(b)["type"] == "checkout.session.completed"
    ]
    (body, headers), *_ = completed
    event = await provider.verify_webhook(body, headers, datetime.now(UTC))
    assert event is not None
    assert event.type is EventType.AUTHORIZED


async def test_latency_holds_each_answer_without_holding_the_others(
    provider: StripePayments, fake: FakeStripe
) -> None:
    fake.latency = 0.3
    started = time.monotonic()
    await asyncio.gather(*(open_page(provider, f"pay_{i}") for i in range(5)))
    took = time.monotonic() - started
    assert 0.3 <= took < 1.0  # one latency, not five
    assert len(fake.all("checkout.session")) == 5
