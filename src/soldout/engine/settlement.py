"""Settling a payment: captured into an order while its claim is still held, or the money
back; and moved on by what the provider says of it (a webhook's event, or the line of its
own record when the webhook was lost).

The claim is checked just before the capture and again after it (capturing yields to the
event loop), and from that last check to the order nothing yields: an order always has
its unit. A record's state only moves forward, so replayed and out-of-order events change
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from soldout.clock import Clock
from soldout.domain.claims import Claim, Order
from soldout.domain.errors import Conflict, DomainError, PaymentFailed
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.payments import NEVER_ASKED, PaymentRecord, PaymentState
from soldout.engine.background import Background
from soldout.engine.maker_news import TEAM_PAYMENT_RETURNED
from soldout.engine.orders import OrderDesk
from soldout.engine.payment_records import PaymentRecords
from soldout.ids import new_id
from soldout.payments import EventType, PaymentProvider, Transaction, WebhookEvent
from soldout.store.ports import Store

__all__ = ["CANCELLED_ON_PAGE", "CLOSED_WITH_CLAIM", "GIVEN_UP", "RELEASED", "Settlement"]

log = logging.getLogger(__name__)

CANCELLED_ON_PAGE = "cancelled on the payment page; nothing was charged"
GIVEN_UP = "given up for a new attempt; nothing was charged"
CLOSED_WITH_CLAIM = "the payment page closed with the claim; nothing was charged"
_GIVEN_UP = frozenset({CANCELLED_ON_PAGE, GIVEN_UP, CLOSED_WITH_CLAIM})
RELEASED = "hold released"  # a late payment's reason when no money had been taken
# Given back for a reason the maker may want to look at (not a fan's own choice).
_NEEDS_A_PERSON = frozenset({"late", "unrecorded"})


class Settlement:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        provider: PaymentProvider,
        records: PaymentRecords,
        orders: OrderDesk,
        refuse_unless_held: Callable[[Claim], None],
        background: Background,
    ) -> None:
        """`refuse_unless_held(claim)` raises why a claim can no longer be paid."""
        self._store = store
        self._clock = clock
        self._provider = provider
        self._records = records
        self._orders = orders
        self._refuse_unless_held = refuse_unless_held
        self._background = background

    async def complete(self, claim: Claim, record: PaymentRecord) -> Order:
        """Capture an authorized payment and make the order, or give the money back."""
        await self._refund_unless_held(claim, record)
        # Read before the last check: from that check to the order nothing may yield.
        fan = await self._store.fans.get(claim.fan_id)
        try:
            await self._provider.capture(self._reference(record), claim.total)
        except DomainError as failure:
            with contextlib.suppress(DomainError):
                await self._provider.refund(self._reference(record), claim.total)
            record.advance(PaymentState.FAILED, self._clock.now(), failure.message)
            await self.save(record)
            raise PaymentFailed(failure.message) from failure
        await self._refund_unless_held(claim, record)  # the capture yielded: check again
        record.advance(PaymentState.CAPTURED, self._clock.now())
        shipping = fan.shipping if fan else None
        return await self._orders.record(claim, record, shipping, self._unrecorded)

    async def _refund_unless_held(self, claim: Claim, record: PaymentRecord) -> None:
        try:
            self._refuse_unless_held(claim)
        except DomainError as refusal:
            await self.give_back(record, f"refunded: {refusal.message}")
            raise

    def _unrecorded(self, payment: PaymentRecord) -> None:
        """Captured, but its order was not recorded: a retry with the same key is a new
        attempt (like a claim's), and the money goes back."""
        self._records.forget_key(payment)
        self._background.run(
            self.give_back(payment, "the order could not be recorded", why="unrecorded")
        )

    async def give_back(self, record: PaymentRecord, reason: str, *, why: str = "late") -> None:
        """Money that can no longer buy anything goes back, and the fan is told `why` (the
        e-mail's words): `late` (the claim was not held when it came), `given_up` (an
        attempt the fan left for another, or cancelled), `unrecorded` (no order made)."""
        taken = await self._provider.refund(self._reference(record), self._money(record), reason)
        why_said = reason.removeprefix("refunded: ")
        if not taken:  # only a hold on the card, released: no charge ever shows
            reason = f"{RELEASED}: {why_said}"
        now = self._clock.now()
        if not record.advance(PaymentState.REFUNDED, now, reason):
            return
        done = "was refunded in full" if taken else "was cancelled before any money was taken"
        note = Notification(
            new_id("ntf"),
            record.fan_id,
            "payment_refunded",
            f"Your payment {record.id} {done}: {why_said}.",
            now,
            {"payment_id": record.id, "claim_id": record.claim_id, "why": why}
            | ({} if taken else {"released": True}),
        )
        notes = [note]
        if why in _NEEDS_A_PERSON:
            told = f"Payment {record.id} was given back to the fan: {why_said}."
            news = self._orders.maker_news
            notes += news.notes(TEAM_PAYMENT_RETURNED, told, note.data | {"reason": why_said}, now)
        async with self._store.transaction() as tx:
            tx.payments.update(record)
            tx.notifications.add_many(notes)

    async def refund(self, order: Order, reason: str, *, tell: bool) -> None:
        """Give a paid order's money back (what part refunds left) and unsell it; the
        caller holds its claim's turn. `tell`: the provider does not know yet (not a refund
        it reported); refused while a part refund's outcome is not known."""
        if order.refunded_at is not None:
            return
        pending = order.pending_refund()
        if tell and pending is not None:
            raise Conflict(
                f"a part refund of {Money(pending.amount, order.currency)} is still being"
                " made: retry it first"
            ).with_code("refund_pending")
        payment = self._records.captured(order.claim_id)
        if tell and payment is not None:
            await self._provider.refund(self._reference(payment), self._money(payment), reason)
        await self._orders.unsell(order, payment, reason)

    async def save(self, record: PaymentRecord) -> None:
        await asyncio.shield(self._store.payments.update(record))

    def _reference(self, record: PaymentRecord) -> str:
        if record.reference is None:
            raise PaymentFailed("the payment provider has not answered for this payment yet")
        return record.reference

    def _money(self, record: PaymentRecord) -> Money:
        return Money(record.amount, record.currency)

    # -- what the provider says ----------------------------------------------------------
    async def apply(self, event: WebhookEvent, claim: Claim, record: PaymentRecord) -> str:
        """A verified event for the record, in its claim's turn; what happened, in a word."""
        if event.amount != record.amount or event.currency != record.currency:
            log.error("webhook %s amount differs from payment %s", event.id, record.id)
            return "amount_mismatch"
        now = self._clock.now()
        held = claim.is_held and not claim.is_overdue(now)  # (a closed claim's page closed)
        if event.type is EventType.AUTHORIZED:
            if record.state is PaymentState.FAILED and record.reason in _GIVEN_UP:
                # Money for an attempt given up (its page closed too late): it goes back.
                record.reference = event.reference
                await self.give_back(
                    record, "refunded: the payment came after it was given up", why="given_up"
                )
                return "refunded"
            if record.state is not PaymentState.PENDING:
                return "ignored"
            record.reference = event.reference
            record.advance(PaymentState.AUTHORIZED, now)
            try:
                await self.complete(claim, record)
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
                await self.save(record)
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
            async with self._store.transaction() as tx:
                tx.payments.update(record)
                tx.notifications.add_many([note])
            return "declined"
        if event.type is EventType.CANCELLED:
            # The fan went back from the page (or soldout closed it): no bank said no.
            why = CANCELLED_ON_PAGE if held else CLOSED_WITH_CLAIM
            if not record.advance(PaymentState.FAILED, now, why):
                return "ignored"
            record.reference = record.reference or event.reference
            await self.save(record)
            return "cancelled"
        if event.type is EventType.REFUNDED:
            if record.state is PaymentState.CAPTURED:
                order = self._orders.for_claim(claim.id)
                if order is not None:
                    await self.refund(order, "refunded by the payment provider", tell=False)
                return "refunded"
            if record.advance(PaymentState.REFUNDED, now, "refunded by the payment provider"):
                await self.save(record)
                return "refunded"
            return "ignored"
        return "ignored"  # captured: soldout captures itself and already knows

    async def catch_up(self, claim: Claim, record: PaymentRecord, line: Transaction | None) -> None:
        """Settle a pending attempt as the provider's line says its webhook would have."""
        now = self._clock.now()
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
                await self.complete(claim, record)
            return
        else:
            return  # still undecided at the provider
        await self.save(record)
