"""Giving part of an order's money back while the order stands: it keeps its unit, its
place in the queue and its ship date (a scratched unit, a late delivery).

The refund is written on the order before the provider is asked, so a crash between the
two leaves a trace: the refund shows as still being made, counts against what is left to
refund, and a retry under the same key asks the provider again under the same refund id,
from which the provider derives its idempotency key: the money goes back once. Refunds of
one order run one at a time, in its claim's turn (as its payment and a full refund).
"""

from __future__ import annotations

import asyncio
import dataclasses

from soldout.clock import Clock
from soldout.domain.claims import Order, OrderEvent
from soldout.domain.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidInput,
    PaymentFailed,
)
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.refunds import PartRefund
from soldout.engine.payment_records import PaymentRecords
from soldout.ids import new_id
from soldout.payments import PaymentProvider
from soldout.store.ports import Store

__all__ = ["PartRefunds"]


class PartRefunds:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        provider: PaymentProvider,
        records: PaymentRecords,
        timeout: float,
    ) -> None:
        self._store = store
        self._clock = clock
        self._provider = provider
        self._records = records
        self._timeout = timeout

    async def refund(self, order: Order, amount: int, reason: str, key: str) -> Order:
        """Give `amount` (minor units, less than what is left) back for `reason`. The same
        `key` again is the same refund: made once, finished if a crash or the provider
        left it half done, refused (409) for another amount or reason."""
        async with self._records.turn(order.claim_id):
            refund = order.refund_keyed(key)
            if refund is not None and (refund.amount, refund.reason) != (amount, reason):
                raise IdempotencyKeyReused(field="Idempotency-Key")
            if refund is None:
                refund = await self._note(order, amount, reason, key)
            elif not refund.done and await self._made_already(order, refund):
                await self._done(order, refund, Money(refund.amount, order.currency))
                return order
            if not refund.done:
                await self._ask(order, refund)
        return order

    async def _made_already(self, order: Order, refund: PartRefund) -> bool:
        """Whether the provider's own record shows a retried refund made already: its
        idempotency key is remembered only for a while (Stripe: 24 hours), so a retry
        later must not ask again for money that went back (nor lose a refund that was
        made, once too little is left for the provider to take it again). Money the
        provider gave back beyond the refunds soldout made counts as this one's."""
        payment = self._records.captured(order.claim_id)
        if payment is None or payment.reference is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                line = await self._provider.transaction(payment.id, payment.reference)
        except (TimeoutError, DomainError):
            return False  # asked below, under its key, as before
        made = sum(r.amount for r in order.refunds if r.done)
        return line is not None and line.refunded >= made + refund.amount

    async def _note(self, order: Order, amount: int, reason: str, key: str) -> PartRefund:
        """Refuse what cannot be refunded, else write the refund on the order, durably,
        before the provider is asked."""
        money = Money(order.left_to_refund, order.currency)
        if amount <= 0:
            raise InvalidInput("the amount to refund must be more than zero", field="amount")
        if amount > order.left_to_refund:
            raise InvalidInput(f"at most {money} is left to refund", field="amount")
        pending = order.pending_refund()
        if pending is not None:
            raise Conflict(
                f"a refund of {Money(pending.amount, order.currency)} is still being made:"
                " retry it first"
            ).with_code("refund_pending")
        if self._records.captured(order.claim_id) is None:
            raise Conflict("this order's payment is not held as captured").with_code(
                "not_refundable"
            )
        refund = PartRefund(new_id("rfd"), key, amount, reason, self._clock.now())
        before, order.refunds = order.refunds, (*order.refunds, refund)
        try:
            await asyncio.shield(self._store.orders.update([order]))
        except BaseException:
            order.refunds = before  # not on record: the provider is not asked
            raise
        return refund

    async def _ask(self, order: Order, refund: PartRefund) -> None:
        payment = self._records.captured(order.claim_id)
        if payment is None or payment.reference is None:
            raise Conflict("this order's payment is not held as captured").with_code(
                "not_refundable"
            )
        money = Money(refund.amount, order.currency)
        try:
            async with asyncio.timeout(self._timeout):
                await self._provider.refund_part(payment.reference, money, refund.id, refund.reason)
        except InvalidInput:
            # The provider refused it (it holds less than soldout thought): nothing moved,
            # so the refund is forgotten and a retry is a new one.
            order.refunds = tuple(r for r in order.refunds if r.id != refund.id)
            await asyncio.shield(self._store.orders.update([order]))
            raise
        except (TimeoutError, DomainError) as failure:
            raise PaymentFailed(
                f"the payment provider did not confirm the refund ({failure}); retry with the"
                " same key: it refunds once"
            ) from failure
        await self._done(order, refund, money)

    async def _done(self, order: Order, refund: PartRefund, money: Money) -> None:
        now = self._clock.now()
        done = dataclasses.replace(refund, done_at=now)
        order.refunds = tuple(done if r.id == refund.id else r for r in order.refunds)
        event = OrderEvent(order.id, now, "refunded_part", f"{money} refunded: {refund.reason}")
        note = Notification(
            new_id("ntf"),
            order.fan_id,
            "order_refunded_part",
            f"{money} of order {order.id} was refunded: {refund.reason}.",
            now,
            {
                "order_id": order.id,
                "refund_id": refund.id,
                "amount": refund.amount,
                "currency": order.currency,
                "reason": refund.reason,
            },
        )
        async with self._store.transaction() as tx:
            tx.orders.update([order])
            tx.orders.add_events([event])
            tx.notifications.add_many([note])
