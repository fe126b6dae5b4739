"""Paying for a held claim: charge, re-check, record the order, and give the money back
whenever no order could be recorded.

The engine runs one payment at a time per claim and keeps the orders; `Checkout.settle`
does one payment. An order exists (in `orders`) only once its write is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState, Order
from soldout.engine.book import LaunchBook
from soldout.engine.expiry import ExpiryQueue
from soldout.ids import new_id
from soldout.payments import Payment, PaymentProvider
from soldout.store.ports import Store

__all__ = ["Checkout"]


class Checkout:
    def __init__(
        self,
        store: Store,
        payments: PaymentProvider,
        clock: Clock,
        expiries: ExpiryQueue,
        orders: dict[str, Order],
        refuse_unless_held: Callable[[Claim], None],
    ) -> None:
        self._store = store
        self._payments = payments
        self._clock = clock
        self._expiries = expiries
        self._orders = orders
        self._refuse_unless_held = refuse_unless_held

    async def settle(
        self, book: LaunchBook, claim: Claim, method: str, token: str, idempotency_key: str
    ) -> Order:
        payment = await self._payments.charge(method, token, claim.total, reference=claim.id)
        # The provider call yielded: the claim may have expired meanwhile. Re-check, and
        # give the money back rather than make an order without a unit.
        if not claim.is_held or claim.is_overdue(self._clock.now()):
            await self._payments.refund(payment)
            self._refuse_unless_held(claim)
        now = self._clock.now()
        claim.state, claim.closed_at = ClaimState.PAID, now
        book.stock[claim.sku].settle(claim.quantity)
        book.count(ClaimState.HELD, ClaimState.PAID)
        order = Order(
            id=new_id("ord"),
            claim_id=claim.id,
            launch_id=claim.launch_id,
            fan_id=claim.fan_id,
            sku=claim.sku,
            quantity=claim.quantity,
            total=claim.total_amount,
            currency=claim.currency,
            paid_at=now,
            payment_method=method,
            payment_reference=payment.reference,
            idempotency_key=idempotency_key,
        )
        try:
            written = self._store.claims.settle(claim.id, now, order)
        except BaseException:
            await self._unpay(book, claim, payment)
            raise
        try:
            await asyncio.shield(written)  # a cancelled request does not stop the write
        except asyncio.CancelledError:
            written.add_done_callback(lambda done: self._settled_late(done, order))
            raise
        except BaseException:
            await self._unpay(book, claim, payment)
            raise
        self._orders[claim.id] = order
        return order

    def _settled_late(self, done: asyncio.Future[None], order: Order) -> None:
        """The payment's request was cancelled, its write went on: keep what it wrote."""
        if not done.cancelled() and done.exception() is None:
            self._orders[order.claim_id] = order

    async def _unpay(self, book: LaunchBook, claim: Claim, payment: Payment) -> None:
        """The order was not recorded: the claim is held again and the money goes back."""
        claim.state, claim.closed_at = ClaimState.HELD, None
        book.stock[claim.sku].unsettle(claim.quantity)
        book.count(ClaimState.PAID, ClaimState.HELD)
        self._expiries.push(claim.expires_at, claim.id)  # its deadline may have been popped
        await self._payments.refund(payment)
