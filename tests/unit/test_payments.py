"""The `test` payment provider and signed webhooks, as a caller relies on them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from soldout.clock import FakeClock
from soldout.domain.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    PaymentFailed,
    WebhookRejected,
)
from soldout.domain.money import Money
from soldout.payments import (
    SIGNATURE_HEADER,
    AuthorizationStatus,
    EventType,
    PaymentRequest,
    TestPayments,
    Transaction,
    WebhookEvent,
    event_body,
    sign,
    verify,
)

SECRET = b"s" * 32
EUR10 = Money(1000, "EUR")
WAIT = 2.0  # seconds before a missing webhook fails the test rather than hanging it


class Inbox:
    """The `deliver` callback: verifies each webhook on arrival and queues its event."""

    def __init__(self, provider: TestPayments, clock: FakeClock) -> None:
        self._provider, self._clock = provider, clock
        self._events: asyncio.Queue[WebhookEvent] = asyncio.Queue()

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> None:
        event = await self._provider.verify_webhook(body, headers, self._clock.now())
        self._events.put_nowait(event)

    async def next(self) -> WebhookEvent:
        return await asyncio.wait_for(self._events.get(), WAIT)

    def empty(self) -> bool:
        return self._events.empty()


@pytest.fixture
async def provider(clock: FakeClock) -> AsyncIterator[TestPayments]:
    p = TestPayments(secret=SECRET, webhook_delay=0, clock=clock)
    yield p
    await p.close()


@pytest.fixture
def inbox(provider: TestPayments, clock: FakeClock) -> Inbox:
    box = Inbox(provider, clock)
    provider.on_webhook(box)
    return box


async def authorize(
    provider: TestPayments, token: str = "tok_ok", key: str = "k1", amount: Money = EUR10
) -> tuple[str, AuthorizationStatus]:
    auth = await provider.authorize(
        PaymentRequest(
            method="test", token=token, amount=amount, reference=f"pay_{key}", idempotency_key=key
        )
    )
    return auth.reference, auth.status


async def line(provider: TestPayments, reference: str) -> Transaction:
    (found,) = [t for t in await provider.transactions() if t.reference == reference]
    return found


# -- authorize -------------------------------------------------------------------------


async def test_an_ordinary_token_is_authorized_at_once(provider: TestPayments) -> None:
    reference, status = await authorize(provider)
    assert status is AuthorizationStatus.AUTHORIZED
    assert await provider.transactions() == [
        Transaction(reference, "test", 1000, "EUR", "authorized", 0, 0, "pay_k1")
    ]


async def test_the_same_key_authorizes_once(provider: TestPayments) -> None:
    first = await provider.authorize(
        PaymentRequest(
            method="test", token="tok_ok", amount=EUR10, reference="pay_1", idempotency_key="k"
        )
    )
    again = await provider.authorize(
        PaymentRequest(
            method="test", token="tok_ok", amount=EUR10, reference="pay_1", idempotency_key="k"
        )
    )
    assert again == first
    assert len(await provider.transactions()) == 1


async def test_a_key_reused_for_another_payment_is_refused(provider: TestPayments) -> None:
    await authorize(provider, key="k")
    with pytest.raises(IdempotencyKeyReused):
        await authorize(provider, key="k", amount=Money(999, "EUR"))
    assert len(await provider.transactions()) == 1


async def test_the_decline_token_is_declined_and_recorded(provider: TestPayments) -> None:
    auth = await provider.authorize(
        PaymentRequest(
            method="test", token="tok_decline", amount=EUR10, reference="p", idempotency_key="k"
        )
    )
    assert (auth.status, auth.reason) == (AuthorizationStatus.DECLINED, "card declined")
    assert (await line(provider, auth.reference)).status == "declined"
    with pytest.raises(PaymentFailed):
        await provider.capture(auth.reference, EUR10)


@pytest.mark.parametrize(
    ("method", "token", "amount", "field"),
    [
        ("card", "tok_ok", EUR10, "method"),
        ("test", "", EUR10, "token"),
        ("test", "tok_ok", Money(0, "EUR"), "amount"),
    ],
)
async def test_bad_requests_are_refused_before_any_charge(
    provider: TestPayments, method: str, token: str, amount: Money, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await provider.authorize(
            PaymentRequest(
                method=method, token=token, amount=amount, reference="p", idempotency_key="k"
            )
        )
    assert refused.value.field == field
    assert await provider.transactions() == []


async def test_a_delayed_token_is_pending_then_authorized_by_webhook(
    provider: TestPayments, inbox: Inbox
) -> None:
    reference, status = await authorize(provider, "tok_delayed")
    assert status is AuthorizationStatus.PENDING
    assert (await line(provider, reference)).status == "pending"
    event = await inbox.next()
    assert (event.type, event.reference, event.amount, event.currency) == (
        EventType.AUTHORIZED,
        reference,
        1000,
        "EUR",
    )
    assert (await line(provider, reference)).status == "authorized"
    assert await authorize(provider, "tok_delayed") == (reference, AuthorizationStatus.AUTHORIZED)


async def test_a_delayed_decline_comes_by_webhook(provider: TestPayments, inbox: Inbox) -> None:
    reference, status = await authorize(provider, "tok_delayed_decline")
    assert status is AuthorizationStatus.PENDING
    event = await inbox.next()
    assert (event.type, event.reference) == (EventType.DECLINED, reference)
    assert (await line(provider, reference)).status == "declined"


async def test_a_timed_out_authorization_still_happens_and_is_announced(
    provider: TestPayments, inbox: Inbox
) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(authorize(provider, "tok_timeout"), 0.01)
    event = await inbox.next()
    assert event.type is EventType.AUTHORIZED
    assert (await line(provider, event.reference)).status == "authorized"
    # A retry with the same key learns the outcome at once and charges nothing more.
    assert await authorize(provider, "tok_timeout") == (
        event.reference,
        AuthorizationStatus.AUTHORIZED,
    )
    assert len(await provider.transactions()) == 1


# -- capture and refund ----------------------------------------------------------------


async def test_capture_takes_the_money_once(provider: TestPayments) -> None:
    reference, _ = await authorize(provider)
    await provider.capture(reference, EUR10)
    await provider.capture(reference, EUR10)
    captured = await line(provider, reference)
    assert (captured.status, captured.captured) == ("captured", 1000)


async def test_capture_of_an_unknown_payment_fails(provider: TestPayments) -> None:
    with pytest.raises(PaymentFailed):
        await provider.capture("tpay_nope", EUR10)


async def test_capture_of_another_amount_is_refused(provider: TestPayments) -> None:
    reference, _ = await authorize(provider)
    with pytest.raises(InvalidInput):
        await provider.capture(reference, Money(1000, "USD"))


async def test_the_capture_fail_token_fails_capture_and_can_be_voided(
    provider: TestPayments,
) -> None:
    reference, status = await authorize(provider, "tok_capture_fail")
    assert status is AuthorizationStatus.AUTHORIZED
    with pytest.raises(PaymentFailed):
        await provider.capture(reference, EUR10)
    assert (await line(provider, reference)).status == "authorized"
    await provider.refund(reference, EUR10)
    assert (await line(provider, reference)).status == "voided"


async def test_refund_before_capture_voids_silently(provider: TestPayments, inbox: Inbox) -> None:
    reference, _ = await authorize(provider)
    await provider.refund(reference, EUR10)
    voided = await line(provider, reference)
    assert (voided.status, voided.captured, voided.refunded) == ("voided", 0, 0)
    with pytest.raises(PaymentFailed):
        await provider.capture(reference, EUR10)
    # The next webhook is a later payment's: the void sent none.
    later, _ = await authorize(provider, "tok_delayed", key="k2")
    assert (await inbox.next()).reference == later


async def test_refund_after_capture_refunds_once(provider: TestPayments, inbox: Inbox) -> None:
    reference, _ = await authorize(provider)
    await provider.capture(reference, EUR10)
    await provider.refund(reference, EUR10)
    await provider.refund(reference, EUR10)
    refunded = await line(provider, reference)
    assert (refunded.status, refunded.captured, refunded.refunded) == ("refunded", 1000, 1000)
    event = await inbox.next()
    assert (event.type, event.reference, event.amount) == (EventType.REFUNDED, reference, 1000)
    later, _ = await authorize(provider, "tok_delayed", key="k2")
    assert (await inbox.next()).reference == later  # no second payment.refunded


async def test_a_pending_payment_voided_before_its_outcome_stays_void(
    provider: TestPayments, inbox: Inbox
) -> None:
    reference, _ = await authorize(provider, "tok_delayed")
    await provider.refund(reference, EUR10)  # before the delayed outcome had its turn
    later, _ = await authorize(provider, "tok_delayed", key="k2")
    assert (await inbox.next()).reference == later
    assert (await line(provider, reference)).status == "voided"


async def test_a_failed_delivery_is_logged_not_raised(
    provider: TestPayments, caplog: pytest.LogCaptureFixture
) -> None:
    tried = asyncio.Event()

    async def broken(body: bytes, headers: Mapping[str, str]) -> None:
        tried.set()
        raise ConnectionError("soldout is down")

    provider.on_webhook(broken)
    with caplog.at_level(logging.ERROR):
        await authorize(provider, "tok_delayed")
        await asyncio.wait_for(tried.wait(), WAIT)
    assert any("could not be delivered" in r.getMessage() for r in caplog.records)


async def test_close_cancels_delayed_outcomes(clock: FakeClock) -> None:
    provider = TestPayments(secret=SECRET, webhook_delay=3600, clock=clock)
    await authorize(provider, "tok_delayed")
    await asyncio.wait_for(provider.close(), WAIT)


async def test_the_ledger_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "provider" / "ledger.db"
    first = TestPayments(path, secret=SECRET, clock=clock)
    reference, _ = await authorize(first)
    await first.capture(reference, EUR10)
    before = await first.transactions()
    await first.close()

    again = TestPayments(path, secret=SECRET, clock=clock)
    try:
        assert await again.transactions() == before
        assert await authorize(again) == (reference, AuthorizationStatus.AUTHORIZED)
        await again.refund(reference, EUR10)
        assert [t.status for t in await again.transactions()] == ["refunded"]
    finally:
        await again.close()


@pytest.mark.parametrize(
    ("token", "outcome", "status"),
    [
        ("tok_delayed", EventType.AUTHORIZED, "authorized"),
        ("tok_delayed_decline", EventType.DECLINED, "declined"),
    ],
)
async def test_a_delayed_outcome_owed_at_a_stop_is_sent_by_the_next_provider(
    tmp_path: Path, clock: FakeClock, token: str, outcome: EventType, status: str
) -> None:
    """The process stopped (its delayed outcome cancelled with it) before the delay
    passed; a provider opened later on the ledger decides the line when first used and
    sends its webhook: at once, as its time has passed."""
    path = tmp_path / "ledger.db"
    first = TestPayments(path, secret=SECRET, webhook_delay=60, clock=clock)
    first.on_webhook(Inbox(first, clock))
    reference, _ = await authorize(first, token)
    await first.close()
    clock.advance(61)

    again = TestPayments(path, secret=SECRET, webhook_delay=60, clock=clock)
    inbox = Inbox(again, clock)
    again.on_webhook(inbox)
    try:
        assert (await line(again, reference)).status == "pending"  # first use: due now
        event = await inbox.next()
        assert (event.type, event.reference, event.merchant_reference) == (
            outcome,
            reference,
            "pay_k1",
        )
        assert (await line(again, reference)).status == status
    finally:
        await again.close()


async def test_an_outcome_not_due_yet_at_a_restart_waits_for_its_time(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "ledger.db"
    first = TestPayments(path, secret=SECRET, webhook_delay=60, clock=clock)
    first.on_webhook(Inbox(first, clock))
    reference, _ = await authorize(first, "tok_delayed")
    await first.close()
    clock.advance(59.9)  # 0.1 s of the delay left

    again = TestPayments(path, secret=SECRET, webhook_delay=60, clock=clock)
    inbox = Inbox(again, clock)
    again.on_webhook(inbox)
    try:
        assert (await again.transaction("pay_k1")) is not None
        assert inbox.empty()
        event = await inbox.next()  # after the rest of its delay
        assert (event.type, event.reference) == (EventType.AUTHORIZED, reference)
    finally:
        await again.close()


async def test_a_reader_of_the_ledger_decides_nothing(tmp_path: Path, clock: FakeClock) -> None:
    """`soldout reconcile` opens the ledger beside a live server: without `on_webhook` it
    only reads, and leaves the outcomes to the server's provider."""
    path = tmp_path / "ledger.db"
    first = TestPayments(path, secret=SECRET, webhook_delay=60, clock=clock)
    first.on_webhook(Inbox(first, clock))
    reference, _ = await authorize(first, "tok_delayed")
    await first.close()
    clock.advance(61)

    reader = TestPayments(path, secret=SECRET, webhook_delay=60, clock=clock)
    try:
        await reader.transactions()
        for _ in range(5):
            await asyncio.sleep(0)  # a take-over would be under way by now
        assert (await line(reader, reference)).status == "pending"
    finally:
        await reader.close()


# -- webhook signatures ----------------------------------------------------------------


def genuine(clock: FakeClock) -> tuple[WebhookEvent, bytes, dict[str, str]]:
    event = WebhookEvent("evt_1", EventType.CAPTURED, "tpay_1", 1000, "EUR", clock.now(), "pay_1")
    body = event_body(event)
    return event, body, sign(SECRET, body, clock.now())


def test_a_genuine_webhook_is_accepted(clock: FakeClock) -> None:
    event, body, headers = genuine(clock)
    assert verify(SECRET, body, headers, clock.now()) == event
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify(SECRET, body, lower, clock.now() + timedelta(minutes=4)) == event


def test_the_wrong_secret_is_rejected(clock: FakeClock) -> None:
    _, body, headers = genuine(clock)
    with pytest.raises(WebhookRejected):
        verify(b"t" * 32, body, headers, clock.now())


def test_a_tampered_body_is_rejected(clock: FakeClock) -> None:
    _, body, headers = genuine(clock)
    with pytest.raises(WebhookRejected):
        verify(SECRET, body.replace(b"1000", b"1"), headers, clock.now())


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_outside_the_tolerance_is_rejected(clock: FakeClock, skew: timedelta) -> None:
    _, body, _ = genuine(clock)
    headers = sign(SECRET, body, clock.now() + skew)  # old, or from the future
    with pytest.raises(WebhookRejected):
        verify(SECRET, body, headers, clock.now())


def test_a_missing_signature_is_rejected(clock: FakeClock) -> None:
    _, body, _ = genuine(clock)
    with pytest.raises(WebhookRejected):
        verify(SECRET, body, {"Content-Type": "application/json"}, clock.now())


@pytest.mark.parametrize(
    "garble",
    [
        lambda h: "",
        lambda h: "garbage",
        lambda h: h.split(",")[0],  # no v1
        lambda h: h.split(",")[1],  # no t
        lambda h: h.replace("t=", "t=x"),
        lambda h: h + ",v1=zz",
        lambda h: h.replace("v1=", "v1=é"),
    ],
)
def test_a_garbled_signature_is_rejected(clock: FakeClock, garble: Callable[[str], str]) -> None:
    _, body, headers = genuine(clock)
    headers[SIGNATURE_HEADER] = garble(headers[SIGNATURE_HEADER])
    with pytest.raises(WebhookRejected):
        verify(SECRET, body, headers, clock.now())


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        orjson.dumps({"id": "evt_1", "type": "payment.exploded", "reference": "r", "amount": 1,
                      "currency": "EUR", "created": "2030-01-01T12:00:00+00:00"}),
        orjson.dumps({"id": "evt_1", "type": "payment.captured", "reference": "r", "amount": 1,
                      "currency": "EUR", "created": "2030-01-01T12:00:00"}),
        orjson.dumps({"id": "evt_1", "type": "payment.captured", "reference": "r",
                      "amount": "1", "currency": "EUR", "created": "2030-01-01T12:00:00Z"}),
        orjson.dumps({"type": "payment.captured", "reference": "r", "amount": 1,
                      "currency": "EUR", "created": "2030-01-01T12:00:00Z"}),
    ],
    ids=["not-json", "not-object", "unknown-type", "naive-time", "string-amount", "no-id"],
)  # fmt: skip
def test_a_signed_but_malformed_body_is_rejected(clock: FakeClock, body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        verify(SECRET, body, sign(SECRET, body, clock.now()), clock.now())
