"""Paying for a held claim, and giving money back.

A payment is recorded (durably, state `pending`) before the provider is asked, so money can
never be taken without a trace. The provider authorizes; soldout re-checks that the claim
is still held, captures, re-checks again (capturing yielded to the event loop), and only
then marks the claim paid and records the order. Whenever the unit is gone by the time the
money arrives (a slow provider, a late webhook) the money goes back and no order is made:
an order always has its unit.

One payment runs at a time per claim; webhooks for the same claim wait their turn too.

With a hosted provider (Stripe Checkout, Mollie) the first answer is `pending` with the
provider's page: the fan pays there and comes back (`settle` asks the provider at once
rather than wait for the webhook). A new attempt on the same claim first asks the provider
about the open one: settled, or (hosted) given up, the fan pays again; one the provider
is still deciding is refused with when soldout asks again. An attempt given up, or whose
claim closed, is `abandon`ed at the provider, and money that reaches it anyway goes back.
A payment still open a while later is asked about by `pending_payments.PendingPaymentCheck`
(and at start), through `ask_provider`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from soldout.domain.claims import Claim, Order, OrderStatus
from soldout.domain.errors import (
    AlreadyPaid,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    PaymentDeclined,
    PaymentFailed,
)
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.payments import (
    NEVER_ASKED,
    PaymentRecord,
    PaymentState,
    request_fingerprint,
)
from soldout.engine.pending_payments import CheckSchedule
from soldout.ids import new_id
from soldout.payments import (
    AuthorizationStatus,
    EventType,
    PaymentProvider,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)

if TYPE_CHECKING:
    from soldout.engine.engine import SaleEngine

__all__ = ["Checkout", "PaymentOutcome"]

log = logging.getLogger(__name__)

CANCELLED_ON_PAGE = "cancelled on the payment page; nothing was charged"
GIVEN_UP = "given up for a new attempt; nothing was charged"
CLOSED_WITH_CLAIM = "the payment page closed with the claim; nothing was charged"
_GIVEN_UP = frozenset({CANCELLED_ON_PAGE, GIVEN_UP, CLOSED_WITH_CLAIM})

ReturnUrl = Callable[[str, str], str]
"""Where a hosted provider's page sends the fan back: (claim id, payment id) -> URL."""


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    payment: PaymentRecord
    order: Order | None  # None while the provider has not decided (pending)
    replayed: bool
    redirect_url: str | None = None  # a hosted provider's page, where the fan pays


class Checkout:
    def __init__(self, engine: SaleEngine, provider: PaymentProvider, timeout: float) -> None:
        self._engine = engine
        self._provider = provider
        self._timeout = timeout
        self._store = engine.store
        self._by_id: dict[str, PaymentRecord] = {}
        self._by_key: dict[tuple[str, str], PaymentRecord] = {}
        self._by_claim: dict[str, list[PaymentRecord]] = {}
        self._busy: dict[str, asyncio.Future[None]] = {}
        self.return_to: ReturnUrl | None = None  # set by the platform (its public URL)
        self.checks = CheckSchedule()  # when open payments are asked about (the platform's)
        self.webhook_heard_at: datetime | None = None  # the provider's last genuine event

    @property
    def provider(self) -> PaymentProvider:
        return self._provider

    def load(self, records: list[PaymentRecord]) -> None:
        for record in records:
            self._index(record)

    def payments_of(self, claim_id: str) -> list[PaymentRecord]:
        return list(self._by_claim.get(claim_id, ()))

    def all(self) -> list[PaymentRecord]:
        return list(self._by_id.values())

    def unsettled(self) -> list[PaymentRecord]:
        return [r for r in self._by_id.values() if not r.settled]

    # -- paying --------------------------------------------------------------------
    async def pay(
        self, fan_id: str, claim_id: str, method: str, token: str, idempotency_key: str
    ) -> PaymentOutcome:
        claim = self._engine.claim_of(fan_id, claim_id)
        fingerprint = request_fingerprint(claim.id, method, token)
        async with self._one_at_a_time(claim.id):
            first = self._by_key.get((fan_id, idempotency_key))
            if first is not None and first.fingerprint == fingerprint and first.never_asked:
                # Its request died with soldout before the provider heard of it, and
                # nobody was answered: the fan's retry makes that attempt now.
                if self._engine.order_for(claim.id) is not None:
                    raise AlreadyPaid()
                await self._settle_open_attempts(claim)
                self._engine.refuse_unless_held(claim)
                first.reopen(self._engine.now())
                await self._save(first)  # pending again, durably, before the provider
                return await self._authorize(claim, first, token)
            if first is not None:
                if first.fingerprint != fingerprint:
                    raise IdempotencyKeyReused(field="Idempotency-Key")
                if first.state is PaymentState.PENDING:
                    # Undecided (the provider was slow, or soldout stopped mid-payment):
                    # ask again under the same provider key, which never charges twice.
                    return await self._authorize(claim, first, token)
                if first.state is PaymentState.AUTHORIZED:  # stopped before the capture
                    return PaymentOutcome(first, await self._complete(claim, first), False)
                return self._replay(first)
            if self._engine.order_for(claim.id) is not None:
                raise AlreadyPaid()
            await self._settle_open_attempts(claim)
            self._engine.refuse_unless_held(claim)
            if method not in self._provider.methods:
                names = ", ".join(sorted(self._provider.methods))
                raise InvalidInput(
                    f"unknown payment method {method!r}; use {names}", field="method"
                )
            now = self._engine.now()
            record = PaymentRecord(
                id=new_id("pay"),
                claim_id=claim.id,
                fan_id=fan_id,
                provider=self._provider.name,
                method=method,
                amount=claim.total_amount,
                currency=claim.currency,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                created_at=now,
                updated_at=now,
            )
            self._index(record)  # before the write: a retry meanwhile finds this attempt
            try:
                await self._store.payments.add(record)
            except BaseException:
                self._unindex(record)
                raise
            return await self._authorize(claim, record, token)

    async def _settle_open_attempts(self, claim: Claim) -> None:
        """Before a new attempt: the earlier ones of this claim are asked about, so one
        whose webhook was lost does not block the fan. With a hosted provider an unpaid one
        is given up (its page closed); otherwise one the provider has decided is settled,
        and one it is still deciding keeps the fan waiting, told until when."""
        open_ = [p for p in self._by_claim.get(claim.id, ()) if not p.settled]
        if not open_:
            return
        for record in open_:
            await self._ask(claim, record, give_up=GIVEN_UP if self._provider.hosted else None)
        if self._engine.order_for(claim.id) is not None:
            raise AlreadyPaid()
        still = [p for p in self._by_claim.get(claim.id, ()) if not p.settled]
        if still:
            raise self.checks.still_deciding(still, claim.expires_at, self._engine.now())

    async def ask_provider(self, record: PaymentRecord) -> bool:
        """Settle an open attempt from the provider's own record, in its claim's turn (a
        webhook or retry that came first leaves nothing to do); whether it changed."""
        claim = self._engine.claim_by_id(record.claim_id)
        async with self._one_at_a_time(claim.id):
            if record.settled:
                return False
            before = record.state
            await self._ask(claim, record, give_up=None)
            return record.state is not before

    async def settle(
        self, fan_id: str, payment_id: str, *, cancelled: bool = False
    ) -> PaymentRecord:
        """The fan is back from the provider's page: ask the provider how the payment
        went instead of waiting for its webhook. `cancelled`: they chose to go back, so
        an unpaid attempt is given up (the claim stays held; they can pay again)."""
        record = self._by_id.get(payment_id)
        if record is None or record.fan_id != fan_id:
            raise NotFound("payment")
        claim = self._engine.claim_by_id(record.claim_id)
        async with self._one_at_a_time(claim.id):
            if record.state is PaymentState.AUTHORIZED:  # stopped before the capture
                with contextlib.suppress(DomainError):
                    await self._complete(claim, record)
            elif record.state is PaymentState.PENDING:
                await self._ask(claim, record, give_up=CANCELLED_ON_PAGE if cancelled else None)
        return record

    async def _ask(self, claim: Claim, record: PaymentRecord, *, give_up: str | None) -> None:
        """Settle a pending or authorized attempt from the provider's own record; with
        `give_up`, close its page first and, if no money moved, mark it failed."""
        if record.state is PaymentState.AUTHORIZED:
            with contextlib.suppress(DomainError):
                await self._complete(claim, record)
            return
        try:
            if give_up and record.reference is not None:
                await asyncio.wait_for(self._provider.abandon(record.reference), self._timeout)
            line = await asyncio.wait_for(
                self._provider.transaction(record.id, record.reference), self._timeout
            )
        except (TimeoutError, DomainError) as error:
            log.warning("payment %s: the provider did not answer (%s)", record.id, error)
            return
        if record.state is not PaymentState.PENDING:  # a webhook came meanwhile
            return
        if give_up and (line is None or line.status in ("pending", "declined", "voided")):
            # Money that reaches this attempt later is refunded (see `_apply`).
            record.advance(PaymentState.FAILED, self._engine.now(), give_up)
            await self._save(record)
            return
        await self._catch_up(claim, record, line)

    def claim_closed(self, claim: Claim) -> None:
        """The claim expired or was released: close the provider's pages of its open
        attempts, so that they stop taking money (in the background)."""
        attempts = self._by_claim.get(claim.id)
        if not attempts or not self._provider.hosted:
            return
        for record in attempts:
            if record.state is PaymentState.PENDING and record.reference is not None:
                self._engine.in_background(self._abandon(record.reference))

    async def _abandon(self, reference: str) -> None:
        try:
            await asyncio.wait_for(self._provider.abandon(reference), self._timeout)
        except (TimeoutError, DomainError) as error:
            # Its page closes by itself later; money that comes anyway is refunded.
            log.warning("payment %s could not be closed at the provider: %s", reference, error)

    async def _authorize(self, claim: Claim, record: PaymentRecord, token: str) -> PaymentOutcome:
        return_url = None
        if self._provider.hosted:
            if self.return_to is None:
                raise PaymentFailed("this shop has no public address for the payment page")
            return_url = self.return_to(claim.id, record.id)
        try:
            answer = await asyncio.wait_for(
                self._provider.authorize(
                    PaymentRequest(
                        method=record.method,
                        amount=claim.total,
                        reference=record.id,
                        idempotency_key=record.id,
                        token=token,
                        description=self._engine.describe(claim),
                        return_url=return_url,
                        expires_at=claim.expires_at,
                    )
                ),
                self._timeout,
            )
        except TimeoutError:
            record.reason = "the payment provider has not answered yet"
            await self._save(record)
            return PaymentOutcome(copy.copy(record), None, replayed=False)
        except DomainError as refusal:
            record.advance(PaymentState.FAILED, self._engine.now(), refusal.message)
            await self._save(record)
            raise
        record.reference = answer.reference
        now = self._engine.now()
        if answer.status is AuthorizationStatus.DECLINED:
            record.advance(PaymentState.DECLINED, now, answer.reason or "declined")
            await self._save(record)
            raise PaymentDeclined(field="token")
        if answer.status is AuthorizationStatus.PENDING:
            await self._save(record)
            # A copy: the webhook may complete the record before the answer is rendered.
            return PaymentOutcome(copy.copy(record), None, False, answer.redirect_url)
        record.advance(PaymentState.AUTHORIZED, now)
        order = await self._complete(claim, record)
        return PaymentOutcome(record, order, replayed=False)

    def _replay(self, record: PaymentRecord) -> PaymentOutcome:
        """The answer the first request with this key got (or its result since)."""
        if record.state is PaymentState.CAPTURED:
            order = self._engine.order_for(record.claim_id)
            assert order is not None
            return PaymentOutcome(record, order, replayed=True)
        if record.state is PaymentState.DECLINED:
            raise PaymentDeclined(field="token")
        if record.state is PaymentState.FAILED:
            raise PaymentFailed(record.reason)
        if record.state is PaymentState.REFUNDED:
            raise Conflict(record.reason or "this payment was refunded").with_code(
                "payment_refunded"
            )
        return PaymentOutcome(copy.copy(record), None, replayed=True)

    async def _complete(self, claim: Claim, record: PaymentRecord) -> Order:
        """Capture an authorized payment and make the order, or give the money back."""
        await self._refund_unless_held(claim, record)
        # Read before the last check: from that check to the order nothing may yield.
        fan = await self._store.fans.get(claim.fan_id)
        try:
            await self._provider.capture(self._reference(record), claim.total)
        except DomainError as failure:
            with contextlib.suppress(DomainError):
                await self._provider.refund(self._reference(record), claim.total)
            record.advance(PaymentState.FAILED, self._engine.now(), failure.message)
            await self._save(record)
            raise PaymentFailed(failure.message) from failure
        await self._refund_unless_held(claim, record)  # the capture yielded: check again
        record.advance(PaymentState.CAPTURED, self._engine.now())
        return await self._engine.record_order(claim, record, fan.shipping if fan else None)

    async def _refund_unless_held(self, claim: Claim, record: PaymentRecord) -> None:
        try:
            self._engine.refuse_unless_held(claim)
        except DomainError as refusal:
            await self.give_back(record, f"refunded: {refusal.message}")
            raise

    async def give_back(self, record: PaymentRecord, reason: str) -> None:
        """Money that can no longer buy anything goes back, and the fan is told."""
        await self._provider.refund(self._reference(record), self._money(record), reason)
        now = self._engine.now()
        if not record.advance(PaymentState.REFUNDED, now, reason):
            return
        note = Notification(
            new_id("ntf"),
            record.fan_id,
            "payment_refunded",
            f"Your payment {record.id} was refunded in full: {reason}.",
            now,
            {"payment_id": record.id, "claim_id": record.claim_id},
        )
        await asyncio.shield(
            asyncio.gather(
                self._store.payments.update(record), self._store.notifications.add_many([note])
            )
        )

    def _reference(self, record: PaymentRecord) -> str:
        if record.reference is None:
            raise PaymentFailed("the payment provider has not answered for this payment yet")
        return record.reference

    def _money(self, record: PaymentRecord) -> Money:
        return Money(record.amount, record.currency)

    async def _save(self, record: PaymentRecord) -> None:
        await asyncio.shield(self._store.payments.update(record))

    # -- webhooks ------------------------------------------------------------------
    async def webhook(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Apply a provider's signed event; returns what happened, in a word. Replays and
        out-of-order events change nothing: a record's state only moves forward."""
        event = await self._provider.verify_webhook(body, headers, self._engine.now())
        self.webhook_heard_at = self._engine.now()
        if event is None:
            return "ignored"
        record = self._by_id.get(event.merchant_reference)
        if record is None or record.provider != self._provider.name:
            log.warning("webhook %s for an unknown payment %s", event.id, event.merchant_reference)
            return "unknown_payment"
        claim = self._engine.claim_by_id(record.claim_id)
        async with self._one_at_a_time(claim.id):
            result = await self._apply(event, claim, record)
        fresh = await self._store.payments.note_event(
            self._provider.name, event.id, self._engine.now()
        )
        return result if fresh else "duplicate"

    async def _apply(self, event: WebhookEvent, claim: Claim, record: PaymentRecord) -> str:
        if event.amount != record.amount or event.currency != record.currency:
            log.error("webhook %s amount differs from payment %s", event.id, record.id)
            return "amount_mismatch"
        now = self._engine.now()
        held = claim.is_held and not claim.is_overdue(now)  # (a closed claim's page closed)
        if event.type is EventType.AUTHORIZED:
            if record.state is PaymentState.FAILED and record.reason in _GIVEN_UP:
                # Money for an attempt given up (its page closed too late): it goes back.
                record.reference = event.reference
                await self.give_back(record, "refunded: the payment came after it was given up")
                return "refunded"
            if record.state is not PaymentState.PENDING:
                return "ignored"
            record.reference = event.reference
            record.advance(PaymentState.AUTHORIZED, now)
            try:
                await self._complete(claim, record)
            except DomainError as outcome:
                return outcome.code
            return "order_created"
        if event.type is EventType.DECLINED:
            # A claim that closed had its payment page closed by soldout: not the fan's bank.
            why = "declined by the provider" if held else CLOSED_WITH_CLAIM
            if not record.advance(PaymentState.DECLINED, now, why):
                return "ignored"
            record.reference = record.reference or event.reference
            if not held:
                await self._save(record)
                return "declined"
            note = Notification(
                new_id("ntf"),
                record.fan_id,
                "payment_declined",
                "Your payment was declined. Your claim is held until its window ends; you"
                " can pay again with another card.",
                now,
                {"payment_id": record.id, "claim_id": record.claim_id},
            )
            await asyncio.shield(
                asyncio.gather(
                    self._store.payments.update(record),
                    self._store.notifications.add_many([note]),
                )
            )
            return "declined"
        if event.type is EventType.CANCELLED:
            # The fan went back from the page (or soldout closed it): no bank said no.
            why = CANCELLED_ON_PAGE if held else CLOSED_WITH_CLAIM
            if not record.advance(PaymentState.FAILED, now, why):
                return "ignored"
            record.reference = record.reference or event.reference
            await self._save(record)
            return "cancelled"
        if event.type is EventType.REFUNDED:
            if record.state is PaymentState.CAPTURED:
                order = self._engine.order_for(claim.id)
                if order is not None:
                    await self._refund(order, "refunded by the payment provider", tell=False)
                return "refunded"
            if record.advance(PaymentState.REFUNDED, now, "refunded by the payment provider"):
                await self._save(record)
                return "refunded"
            return "ignored"
        return "ignored"  # captured: soldout captures itself and already knows

    async def _catch_up(
        self, claim: Claim, record: PaymentRecord, line: Transaction | None
    ) -> None:
        """Settle a pending attempt as the provider's line says its webhook would have."""
        now = self._engine.now()
        if line is None:
            record.advance(PaymentState.FAILED, now, NEVER_ASKED)
        elif line.status == "declined":
            record.advance(PaymentState.DECLINED, now, "declined by the provider")
        elif line.status in ("voided", "refunded"):
            record.reference = line.reference
            record.advance(PaymentState.REFUNDED, now, "the provider gave the money back")
        elif line.status in ("authorized", "captured"):
            record.reference = line.reference
            record.advance(PaymentState.AUTHORIZED, now)
            with contextlib.suppress(DomainError):  # the money went back if the unit is gone
                await self._complete(claim, record)
            return
        else:
            return  # still undecided at the provider
        await self._save(record)

    # -- refunds -------------------------------------------------------------------
    async def refund(self, order: Order, reason: str, *, unshipped_only: bool = False) -> Order:
        """Give an order's money back (idempotent). An unshipped order's unit goes back on
        sale and its place in the fulfilment queue is freed. `unshipped_only` (a fan's
        cancel) refuses once the order has shipped; shipping passes over an order while
        its refund runs (`busy`), so the two cannot cross."""
        async with self._one_at_a_time(order.claim_id):
            if unshipped_only and order.status is OrderStatus.SHIPPED:
                raise Conflict("this order has shipped; ask the maker for a refund").with_code(
                    "already_shipped"
                )
            await self._refund(order, reason, tell=True)
        return order

    def busy(self, claim_id: str) -> bool:
        """A payment, webhook or refund is running for this claim right now."""
        return claim_id in self._busy

    async def _refund(self, order: Order, reason: str, *, tell: bool) -> None:
        if order.refunded_at is not None:
            return
        payment = self.captured_payment(order.claim_id)
        if tell and payment is not None:  # `tell`: the provider does not know yet
            await self._provider.refund(self._reference(payment), self._money(payment), reason)
        await self._engine.orders.unsell(order, payment, reason)

    # -- internals -----------------------------------------------------------------
    def captured_payment(self, claim_id: str) -> PaymentRecord | None:
        return next(
            (p for p in self._by_claim.get(claim_id, ()) if p.state is PaymentState.CAPTURED),
            None,
        )

    def forget_key(self, record: PaymentRecord) -> None:
        if self._by_key.get((record.fan_id, record.idempotency_key)) is record:
            del self._by_key[(record.fan_id, record.idempotency_key)]

    def _unindex(self, record: PaymentRecord) -> None:
        self.forget_key(record)
        del self._by_id[record.id]
        self._by_claim[record.claim_id].remove(record)

    def _index(self, record: PaymentRecord) -> None:
        self._by_id[record.id] = record
        self._by_key[(record.fan_id, record.idempotency_key)] = record
        self._by_claim.setdefault(record.claim_id, []).append(record)

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, claim_id: str) -> AsyncIterator[None]:
        while (busy := self._busy.get(claim_id)) is not None:
            await asyncio.shield(busy)
        done = self._busy[claim_id] = asyncio.get_running_loop().create_future()
        try:
            yield
        finally:
            del self._busy[claim_id]
            done.set_result(None)
