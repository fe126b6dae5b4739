"""The built-in `test` provider: an external payment service simulated in-process.

It keeps its own ledger (see `soldout.payments.ledger`) and reaches soldout only through
signed webhooks, as a real provider would. The card token chooses what happens:

| token                 | authorize answers | then                                         |
|-----------------------|-------------------|----------------------------------------------|
| `tok_decline`         | declined          |                                              |
| `tok_delayed`         | pending           | after the delay: authorized, webhook         |
| `tok_delayed_decline` | pending           | after the delay: declined, webhook           |
| `tok_timeout`         | never (it hangs)  | authorized at once; webhook after the delay  |
| `tok_capture_fail`    | authorized        | `capture` raises `PaymentFailed`             |
| any other             | authorized        |                                              |

A retry with the same idempotency key charges nothing and answers at once (even for
`tok_timeout`): the same reference, and the outcome of a pending authorization once
known. A delayed outcome is kept in the ledger, as a real provider's survives whatever
happens to soldout: a provider opened on the ledger of one that stopped (a crash, a
restart) decides the lines still pending when it is first used, each at its time (its
`created` plus the delay) or at once if that has passed, and sends their webhooks.
Refunding a captured payment sends `payment.refunded`; a part refund (`refund_part`) adds
to the line's `refunded`, once per refund id, never above what was captured, and sends
nothing; voiding an uncaptured one (refund
before capture) sends nothing, nor does a capture.

Usage: `TestPayments(path, secret=secrets.token_bytes(32))`, then `on_webhook(deliver)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from soldout.clock import Clock, SystemClock
from soldout.domain.errors import IdempotencyKeyReused, InvalidInput, PaymentFailed
from soldout.domain.money import Money
from soldout.ids import new_id
from soldout.payments import webhooks
from soldout.payments.ledger import Ledger, Line, LineStatus
from soldout.payments.port import (
    Authorization,
    AuthorizationStatus,
    Deliver,
    EventType,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)

__all__ = ["Card", "TestPayments"]

log = logging.getLogger(__name__)


class Card(StrEnum):
    """What a test card token makes the provider do."""

    ORDINARY = "ordinary"
    DECLINE = "tok_decline"
    DELAYED = "tok_delayed"
    DELAYED_DECLINE = "tok_delayed_decline"
    TIMEOUT = "tok_timeout"
    CAPTURE_FAIL = "tok_capture_fail"


_CARDS = {card.value: card for card in Card if card is not Card.ORDINARY}
_DECLINED = "card declined"
_ANSWER = {
    LineStatus.PENDING: AuthorizationStatus.PENDING,
    LineStatus.DECLINED: AuthorizationStatus.DECLINED,
}
_DELAYED = {  # a delayed card's line after the delay, and the webhook that says so
    Card.DELAYED: (LineStatus.AUTHORIZED, EventType.AUTHORIZED),
    Card.DELAYED_DECLINE: (LineStatus.DECLINED, EventType.DECLINED),
}


def _answer(line: Line) -> Authorization:
    status = _ANSWER.get(line.status, AuthorizationStatus.AUTHORIZED)
    return Authorization(line.reference, status, line.reason)


class TestPayments:
    """The `test` provider. `webhook_secret` signs its webhooks."""

    __test__ = False  # not a pytest test class
    name = "test"
    methods = frozenset({"test"})
    hosted = False

    def __init__(
        self,
        ledger: Path | None = None,
        *,
        secret: bytes,
        webhook_delay: float = 3.0,
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        self.webhook_secret = secret
        self._ledger = Ledger(ledger, read_only=read_only)  # read_only: `soldout reconcile`
        self._delay = webhook_delay
        self._clock = clock or SystemClock()
        self._deliver: Deliver | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._took_over = False  # the outcomes a stopped provider left pending are due

    def _take_over(self) -> None:
        """At the first call once soldout is listening (`on_webhook`; a reader of the
        ledger such as `soldout reconcile` never is): the delayed outcomes still pending
        were left by a provider that stopped before their time; decide each at its time,
        or at once if it has passed."""
        if self._took_over or self._deliver is None:
            return
        self._took_over = True
        now = self._clock.now()
        for line in self._ledger.pending():
            if line.card not in _DELAYED:
                continue
            due = datetime.fromisoformat(line.created) + timedelta(seconds=self._delay)
            self._spawn(self._settle_later(line, max(0.0, (due - now).total_seconds())))

    async def authorize(self, request: PaymentRequest) -> Authorization:
        """It decides at once, with no page: the card token says how."""
        self._take_over()
        method, token, amount = request.method, request.token, request.amount
        reference, idempotency_key = request.reference, request.idempotency_key
        if method not in self.methods:
            raise InvalidInput(f"unknown payment method {method!r}; use 'test'", field="method")
        if not token:
            raise InvalidInput("a card token is required", field="token")
        if amount.amount <= 0:
            raise InvalidInput("the amount must be positive", field="amount")
        card = _CARDS.get(token, Card.ORDINARY)
        new = self._new_line(card, method, amount, reference, idempotency_key)
        line = await self._ledger.add(new)
        if line.reference != new.reference:  # a retry: answer at once, charge nothing
            asked = (method, amount.amount, amount.currency, reference)
            if asked != (line.method, line.amount, line.currency, line.merchant_reference):
                raise IdempotencyKeyReused(
                    "this idempotency key was used for another payment", field="idempotency_key"
                )
            return _answer(line)
        if card in _DELAYED:
            self._spawn(self._settle_later(line, self._delay))
        elif card is Card.TIMEOUT:
            # Authorized and announced, but the answer is lost: the caller's timeout fires.
            self._spawn(self._send_later(EventType.AUTHORIZED, line))
            await asyncio.get_running_loop().create_future()
        return _answer(line)

    def _new_line(
        self, card: Card, method: str, amount: Money, reference: str, idempotency_key: str
    ) -> Line:
        status = {
            Card.DECLINE: LineStatus.DECLINED,
            Card.DELAYED: LineStatus.PENDING,
            Card.DELAYED_DECLINE: LineStatus.PENDING,
        }.get(card, LineStatus.AUTHORIZED)
        return Line(
            reference=new_id("tpay"),
            idempotency_key=idempotency_key,
            merchant_reference=reference,
            method=method,
            card=card,
            amount=amount.amount,
            currency=amount.currency,
            status=status,
            reason=_DECLINED if status is LineStatus.DECLINED else None,
            created=self._clock.now().isoformat(),
        )

    async def capture(self, reference: str, amount: Money) -> None:
        self._take_over()
        line = self._line(reference, amount)
        if line.status is LineStatus.CAPTURED:
            return
        if line.status is not LineStatus.AUTHORIZED:
            raise PaymentFailed(f"a {line.status} payment cannot be captured", field="reference")
        if line.card == Card.CAPTURE_FAIL:
            raise PaymentFailed("the provider failed to capture the payment")
        if not await self._ledger.move(
            reference, {LineStatus.AUTHORIZED}, LineStatus.CAPTURED, captured=line.amount
        ):
            raise PaymentFailed("the payment changed while it was being captured")

    async def refund(self, reference: str, amount: Money, reason: str = "") -> bool:
        self._take_over()
        line = self._line(reference, amount)
        uncaptured = {LineStatus.PENDING, LineStatus.AUTHORIZED}
        if line.status in uncaptured:
            await self._ledger.move(reference, uncaptured, LineStatus.VOIDED)
            return False
        if line.status is LineStatus.CAPTURED and await self._ledger.move(
            reference, {LineStatus.CAPTURED}, LineStatus.REFUNDED, refunded=line.captured
        ):
            self._spawn(self._send(EventType.REFUNDED, line))
        return line.status in (LineStatus.CAPTURED, LineStatus.REFUNDED)

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        """Adds to the line's `refunded`, at most up to what was captured; sends nothing
        (as Stripe's and Mollie's part refunds tell soldout nothing it acts on)."""
        self._take_over()
        line = self._ledger.get(reference)
        if line is None:
            raise PaymentFailed(f"no payment {reference!r} at the provider", field="reference")
        key = f"soldout-{refund_id}"
        made = self._ledger.part_refund(key)
        if made is not None:
            if made != (reference, amount.amount):
                raise IdempotencyKeyReused(
                    "this refund id was used for another refund", field="idempotency_key"
                )
            return  # a retry: refunded once already
        if amount.currency != line.currency or amount.amount <= 0:
            raise InvalidInput(f"refund in the payment's {line.currency}", field="amount")
        if line.status is not LineStatus.CAPTURED:
            raise InvalidInput(f"a {line.status} payment cannot be refunded", field="amount")
        left = line.captured - line.refunded
        if amount.amount > left or not await self._ledger.refund_part(
            reference, key, amount.amount
        ):
            raise InvalidInput(
                f"the refund is more than is left to refund ({left} {line.currency})",
                field="amount",
            )

    async def abandon(self, reference: str) -> None:
        """Nothing to close: a delayed outcome still arrives (and is refunded if late)."""

    async def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent:
        return webhooks.verify(self.webhook_secret, body, headers, now)

    def on_webhook(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def transactions(self, since: datetime | None = None) -> list[Transaction]:
        self._take_over()
        lines = self._ledger.lines()
        if since is not None:
            lines = [line for line in lines if datetime.fromisoformat(line.created) >= since]
        return [line.transaction() for line in lines]

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        self._take_over()
        line = self._ledger.of_merchant(merchant_reference)
        return None if line is None else line.transaction()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ledger.close()

    def _line(self, reference: str, amount: Money) -> Line:
        line = self._ledger.get(reference)
        if line is None:
            raise PaymentFailed(f"no payment {reference!r} at the provider", field="reference")
        if (amount.amount, amount.currency) != (line.amount, line.currency):
            raise InvalidInput(
                f"the amount must be the payment's {line.amount} {line.currency}", field="amount"
            )
        return line

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_later(self, line: Line, delay: float) -> None:
        await asyncio.sleep(delay)
        to, event = _DELAYED[Card(line.card)]
        reason = _DECLINED if to is LineStatus.DECLINED else None
        if await self._ledger.move(line.reference, {LineStatus.PENDING}, to, reason=reason):
            await self._send(event, line)

    async def _send_later(self, event: EventType, line: Line) -> None:
        await asyncio.sleep(self._delay)
        await self._send(event, line)

    async def _send(self, kind: EventType, line: Line) -> None:
        if self._deliver is None:
            return
        now = self._clock.now()
        event = WebhookEvent(
            new_id("evt"),
            kind,
            line.reference,
            line.amount,
            line.currency,
            now,
            line.merchant_reference,
        )
        body = webhooks.event_body(event)
        try:
            await self._deliver(body, webhooks.sign(self.webhook_secret, body, now))
        except Exception:
            log.exception("the %s webhook %s could not be delivered", kind, event.id)
