"""Paying for a held claim, and giving money back.

A payment is recorded (durably, state `pending`) before the provider is asked, so money can
never be taken without a trace. The provider authorizes; soldout re-checks that the claim
is still held, captures, re-checks again (capturing yielded to the event loop), and only
then marks the claim paid and records the order (`settlement.Settlement`). Whenever the
unit is gone by the time the money arrives (a slow provider, a late webhook) the money goes
back and no order is made: an order always has its unit.

One payment runs at a time per claim; webhooks for the same claim wait their turn too
(`payment_records.PaymentRecords.turn`).

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.claims import Claim, Order, OrderStatus
from soldout.domain.errors import (
    AlreadyPaid,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    NotFound,
    PaymentDeclined,
    PaymentFailed,
)
from soldout.domain.payments import PaymentRecord, PaymentState, request_fingerprint
from soldout.engine.background import Background
from soldout.engine.ledger import ClaimLedger
from soldout.engine.orders import OrderDesk
from soldout.engine.payable import refuse_unpayable
from soldout.engine.payment_records import PaymentRecords
from soldout.engine.pending_payments import CheckSchedule
from soldout.engine.settlement import CANCELLED_ON_PAGE, GIVEN_UP, Settlement
from soldout.ids import new_id
from soldout.payments import AuthorizationStatus, PaymentProvider, PaymentRequest, Transaction
from soldout.store.ports import Store

__all__ = ["Checkout", "PaymentOutcome", "ReturnUrl"]

log = logging.getLogger(__name__)

ReturnUrl = Callable[[str, str], str]
"""Where a hosted provider's page sends the fan back: (claim id, payment id) -> URL."""


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    payment: PaymentRecord
    order: Order | None  # None while the provider has not decided (pending)
    replayed: bool
    redirect_url: str | None = None  # a hosted provider's page, where the fan pays


def _nothing_moved(line: Transaction | None) -> bool:
    """No money moved at the provider: a page left alone, closed, or a card refused."""
    return line is None or line.status in ("pending", "voided", "declined")


class Checkout:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        provider: PaymentProvider,
        timeout: float,
        *,
        ledger: ClaimLedger,
        orders: OrderDesk,
        refuse_unless_held: Callable[[Claim], None],
        describe: Callable[[Claim], str],
        background: Background,
    ) -> None:
        """`refuse_unless_held(claim)` raises why a claim can no longer be paid;
        `describe(claim)` says what it buys, for the provider's page."""
        self._store = store
        self._clock = clock
        self._provider = provider
        self._timeout = timeout
        self._ledger = ledger
        self._order_for = orders.for_claim
        self._refuse_unless_held = refuse_unless_held
        self._describe = describe
        self._background = background
        self._records = PaymentRecords()
        self._settlement = Settlement(
            store, clock, provider, self._records, orders, refuse_unless_held, background
        )
        self.return_to: ReturnUrl | None = None  # set by the platform (its public URL)
        self.checks = CheckSchedule()  # when open payments are asked about (the platform's)
        self.webhook_heard_at: datetime | None = None  # the provider's last genuine event
        # a payment not in memory (an archived launch's), read back for a late webhook
        self.find_payment: Callable[[str], Awaitable[PaymentRecord | None]] | None = None

    @property
    def provider(self) -> PaymentProvider:
        return self._provider

    def load(self, records: list[PaymentRecord]) -> None:
        self._records.load(records)

    @property
    def records(self) -> PaymentRecords:
        """Every payment attempt in memory (the archive adopts old ones into it)."""
        return self._records

    def payments_of(self, claim_id: str) -> list[PaymentRecord]:
        return self._records.of_claim(claim_id)

    def all(self) -> list[PaymentRecord]:
        return self._records.all()

    def unsettled(self) -> list[PaymentRecord]:
        return self._records.unsettled()

    def busy(self, claim_id: str) -> bool:
        """A payment, webhook or refund is running for this claim right now."""
        return self._records.busy(claim_id)

    def running(self, claim_id: str) -> asyncio.Future[None] | None:
        """Done when the claim's payment, webhook or refund running now is."""
        return self._records.running(claim_id)

    def forget(self, claim_ids: list[str]) -> list[PaymentRecord]:
        """Removed claims (a rehearsal's): their payments leave memory; which they were."""
        return self._records.forget(claim_ids)

    # -- paying --------------------------------------------------------------------
    async def pay(
        self, fan_id: str, claim_id: str, method: str, token: str, idempotency_key: str
    ) -> PaymentOutcome:
        claim = self._ledger.owned(fan_id, claim_id)
        fingerprint = request_fingerprint(claim.id, method, token)
        async with self._records.turn(claim.id):
            first = self._records.keyed(fan_id, idempotency_key)
            if first is not None and first.fingerprint == fingerprint and first.never_asked:
                # Its request died with soldout before the provider heard of it, and
                # nobody was answered: the fan's retry makes that attempt now.
                self._refuse_if_paid(claim)
                await self._settle_open_attempts(claim)
                self._refuse_unless_held(claim)
                first.reopen(self._clock.now())
                await self._settlement.save(first)  # pending again, durably, before the provider
                return await self._authorize(claim, first, token)
            if first is not None:
                if first.fingerprint != fingerprint:
                    raise IdempotencyKeyReused(field="Idempotency-Key")
                if first.state is PaymentState.PENDING:
                    # Undecided (the provider was slow, or soldout stopped mid-payment):
                    # ask again under the same provider key, which never charges twice.
                    return await self._authorize(claim, first, token)
                if first.state is PaymentState.AUTHORIZED:  # stopped before the capture
                    order = await self._settlement.complete(claim, first)
                    return PaymentOutcome(first, order, False)
                return self._replay(first)
            self._refuse_if_paid(claim)
            # (before an open page is given up)
            refuse_unpayable(self._provider, claim, method, token)
            await self._settle_open_attempts(claim)
            self._refuse_unless_held(claim)
            now = self._clock.now()
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
            self._records.add(record)  # before the write: a retry meanwhile finds this attempt
            try:
                await self._store.payments.add(record)
            except BaseException:
                self._records.remove(record)
                raise
            return await self._authorize(claim, record, token)

    async def _settle_open_attempts(self, claim: Claim) -> None:
        """Before a new attempt: the earlier ones of this claim are asked about, so one
        whose webhook was lost does not block the fan. With a hosted provider an unpaid one
        is given up (its page closed); otherwise one the provider has decided is settled,
        and one it is still deciding keeps the fan waiting, told until when."""
        open_ = self._records.open_of(claim.id)
        if not open_:
            return
        for record in open_:
            await self._ask(claim, record, give_up=GIVEN_UP if self._provider.hosted else None)
        self._refuse_if_paid(claim)
        still = self._records.open_of(claim.id)
        if still:
            raise self.checks.still_deciding(still, claim.expires_at, self._clock.now())

    def _refuse_if_paid(self, claim: Claim) -> None:
        """`already_paid`, naming the order the fan has (its page is where to look)."""
        order = self._order_for(claim.id)
        if order is not None:
            raise AlreadyPaid(f"this claim is already paid: it is order {order.id}")

    async def ask_provider(self, record: PaymentRecord) -> bool:
        """Settle an open attempt from the provider's own record, in its claim's turn (a
        webhook or retry that came first leaves nothing to do); whether it changed."""
        claim = self._ledger.by_id(record.claim_id)
        async with self._records.turn(claim.id):
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
        record = self._records.get(payment_id)
        if record is None or record.fan_id != fan_id:
            raise NotFound("payment")
        claim = self._ledger.by_id(record.claim_id)
        async with self._records.turn(claim.id):
            if record.state is PaymentState.AUTHORIZED:  # stopped before the capture
                with contextlib.suppress(DomainError):
                    await self._settlement.complete(claim, record)
            elif record.state is PaymentState.PENDING:
                await self._ask(claim, record, give_up=CANCELLED_ON_PAGE if cancelled else None)
        return record

    async def _ask(self, claim: Claim, record: PaymentRecord, *, give_up: str | None) -> None:
        """Settle a pending or authorized attempt from the provider's own record; with
        `give_up`, close its page first and, if no money moved, mark it declined (a card
        its page refused, however the fan left it) or failed (given up untried)."""
        if record.state is PaymentState.AUTHORIZED:
            with contextlib.suppress(DomainError):
                await self._settlement.complete(claim, record)
            return
        refused, line = None, None
        try:
            if give_up and record.reference is not None:
                # read before closing the page: closing may wipe why a card was refused
                async with asyncio.timeout(self._timeout):
                    line = await self._provider.transaction(record.id, record.reference)
                if _nothing_moved(line):
                    refused = line.failure if line is not None else None
                    async with asyncio.timeout(self._timeout):
                        await self._provider.abandon(record.reference)
                    line = None  # (read again below: money may have come meanwhile)
            if line is None:
                async with asyncio.timeout(self._timeout):
                    line = await self._provider.transaction(record.id, record.reference)
        except (TimeoutError, DomainError) as error:
            log.warning("payment %s: the provider did not answer (%s)", record.id, error)
            return
        if record.state is not PaymentState.PENDING:  # a webhook came meanwhile
            return
        if give_up and _nothing_moved(line):
            # Money that reaches this attempt later is refunded (`Settlement.apply`).
            if refused:
                record.advance(PaymentState.DECLINED, self._clock.now(), refused)
            else:
                record.advance(PaymentState.FAILED, self._clock.now(), give_up)
            await self._settlement.save(record)
            return
        await self._settlement.catch_up(claim, record, line)

    def claim_closed(self, claim: Claim) -> None:
        """The claim expired or was released: close the provider's pages of its open
        attempts, so that they stop taking money (in the background)."""
        if not self._provider.hosted:
            return
        for record in self._records.of_claim(claim.id):
            if record.state is PaymentState.PENDING and record.reference is not None:
                self._background.run(self._abandon(record.reference))

    async def _abandon(self, reference: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._provider.abandon(reference)
        except (TimeoutError, DomainError) as error:
            # Its page closes by itself later; money that comes anyway is refunded.
            log.warning("payment %s could not be closed at the provider: %s", reference, error)

    async def _authorize(self, claim: Claim, record: PaymentRecord, token: str) -> PaymentOutcome:
        return_url = None
        if self._provider.hosted:
            if self.return_to is None:
                raise PaymentFailed("this shop has no public address for the payment page")
            return_url = self.return_to(claim.id, record.id)
        request = PaymentRequest(
            method=record.method,
            amount=claim.total,
            reference=record.id,
            idempotency_key=record.id,
            token=token,
            description=self._describe(claim),
            return_url=return_url,
            expires_at=claim.expires_at,
        )
        try:
            async with asyncio.timeout(self._timeout):  # (in this task: no task of its own)
                answer = await self._provider.authorize(request)
        except TimeoutError:
            record.reason = "the payment provider has not answered yet"
            await self._settlement.save(record)
            return PaymentOutcome(copy.copy(record), None, replayed=False)
        except DomainError as refusal:
            record.advance(PaymentState.FAILED, self._clock.now(), refusal.message)
            await self._settlement.save(record)
            raise
        record.reference = answer.reference
        now = self._clock.now()
        if answer.status is AuthorizationStatus.DECLINED:
            record.advance(PaymentState.DECLINED, now, answer.reason or "declined")
            await self._settlement.save(record)
            raise PaymentDeclined(field="token")
        if answer.status is AuthorizationStatus.PENDING:
            await self._settlement.save(record)
            # A copy: the webhook may complete the record before the answer is rendered.
            return PaymentOutcome(copy.copy(record), None, False, answer.redirect_url)
        record.advance(PaymentState.AUTHORIZED, now)
        order = await self._settlement.complete(claim, record)
        return PaymentOutcome(record, order, replayed=False)

    def _replay(self, record: PaymentRecord) -> PaymentOutcome:
        """The answer the first request with this key got (or its result since)."""
        if record.state is PaymentState.CAPTURED:
            order = self._order_for(record.claim_id)
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

    # -- webhooks ------------------------------------------------------------------
    async def webhook(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Apply a provider's signed event; returns what happened, in a word. Replays and
        out-of-order events change nothing: a record's state only moves forward."""
        event = await self._provider.verify_webhook(body, headers, self._clock.now())
        self.webhook_heard_at = self._clock.now()
        if event is None:
            return "ignored"
        record = self._records.get(event.merchant_reference)
        if record is None and self.find_payment is not None:
            record = await self.find_payment(event.merchant_reference)
        if record is None or record.provider != self._provider.name:
            log.warning("webhook %s for an unknown payment %s", event.id, event.merchant_reference)
            return "unknown_payment"
        claim = self._ledger.by_id(record.claim_id)
        async with self._records.turn(claim.id):
            result = await self._settlement.apply(event, claim, record)
        fresh = await self._store.payments.note_event(
            self._provider.name, event.id, self._clock.now()
        )
        return result if fresh else "duplicate"

    # -- refunds -------------------------------------------------------------------
    async def refund(self, order: Order, reason: str, *, unshipped_only: bool = False) -> Order:
        """Give an order's money back (idempotent). An unshipped order's unit goes back on
        sale and its place in the fulfilment queue is freed. `unshipped_only` (a fan's
        cancel) refuses once the order has shipped; shipping passes over an order while
        its refund runs (`busy`), so the two cannot cross."""
        async with self._records.turn(order.claim_id):
            if unshipped_only and order.status is OrderStatus.SHIPPED:
                raise Conflict("this order has shipped; ask the maker for a refund").with_code(
                    "already_shipped"
                )
            await self._settlement.refund(order, reason, tell=True)
        return order
