"""Forgetting while the server runs: a removed rehearsal's launches, their claims, orders,
payments, codes and draws leave every index of the engine, so that the store can delete
them without a restart; and an erased fan's personal data leaves memory as it leaves the
store (`forget_fan`).

The caller (`services.rehearsals`) makes this safe in three steps: it cancels the launches
first (no claim, reservation, payment or backup can start on a cancelled launch, and
every hold is released); it waits until `in_flight` is empty (the writes and payments
already running finish); then, in one tick of the event loop, it calls `forget_launches`
and queues the store's purge, so that no request ever sees half of it. Writes queued
before the purge (a released hold, a refund's history line) commit before it and are
deleted with the rest.

This module reaches into the engine's own indexes, as the engine's desks do: it is the
one place that knows all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from soldout.domain.claims import Order
from soldout.domain.payments import PaymentRecord
from soldout.engine.draws import DRAW_PREFIX, seed_name

if TYPE_CHECKING:
    from soldout.engine.engine import SaleEngine

__all__ = ["Forgotten", "forget_fan", "forget_launches", "in_flight"]


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What left the engine's memory: the ids the store must delete, and the payments
    whose money the provider should give back."""

    launch_ids: tuple[str, ...]
    claim_ids: tuple[str, ...]
    orders: tuple[Order, ...]
    payments: tuple[PaymentRecord, ...]
    secrets: tuple[str, ...]  # the draws' seeds


def in_flight(engine: SaleEngine, launch_ids: Collection[str]) -> list[asyncio.Future[Any]]:
    """What is still being done for these launches: claims and reservations being written,
    and payments, webhooks or refunds running for their claims."""
    pending: list[asyncio.Future[Any]] = []
    durable = engine._durable
    busy = engine.checkout._busy
    for launch_id in launch_ids:
        book = engine._books.get(launch_id)
        if book is None:
            continue
        pending += [durable[r.id] for r in book.reservations.values() if r.id in durable]
    for claim in engine._claims.values():
        if claim.launch_id in launch_ids:
            pending += [f for f in (durable.get(claim.id), busy.get(claim.id)) if f is not None]
    return pending


def forget_launches(engine: SaleEngine, launch_ids: Collection[str]) -> Forgotten:
    """Drop the launches and everything hanging from them from memory. Synchronous: the
    caller queues the store's purge in the same tick."""
    books = [engine._books[i] for i in launch_ids if i in engine._books]
    ids = {b.launch.id for b in books}
    claims = [c for launch_id in ids for c in engine.claims_of_launch(launch_id)]
    for claim in claims:
        del engine._claims[claim.id]
        if engine._by_key.get((claim.fan_id, claim.idempotency_key)) is claim:
            del engine._by_key[(claim.fan_id, claim.idempotency_key)]
    codes = [code for book in books for code in book.codes]
    for code in codes:
        engine._code_books.pop(code, None)
    engine._expiries.drop({*(c.id for c in claims), *codes, *(DRAW_PREFIX + i for i in ids)})
    for launch_id in ids:
        engine._by_launch.pop(launch_id, None)
        engine.draws._results.pop(launch_id, None)
        engine.draws.backups.forget(launch_id)
    orders = _forget_orders(engine, ids)
    payments = _forget_payments(engine, [c.id for c in claims])
    for launch_id in ids:
        del engine._books[launch_id]
    _forget_queues(engine, {b.product.id for b in books})
    return Forgotten(
        tuple(sorted(ids)),
        tuple(c.id for c in claims),
        tuple(orders),
        tuple(payments),
        tuple(seed_name(b.launch.id) for b in books if b.launch.is_draw),
    )


def _forget_orders(engine: SaleEngine, launch_ids: set[str]) -> list[Order]:
    desk = engine.orders
    orders = [o for launch_id in launch_ids for o in desk._by_launch.pop(launch_id, ())]
    for order in orders:
        desk._by_id.pop(order.id, None)
        desk._by_claim.pop(order.claim_id, None)
        engine.ship_news._pending.pop(order.id, None)  # never tell a date of a removed order
    return orders


def _forget_payments(engine: SaleEngine, claim_ids: list[str]) -> list[PaymentRecord]:
    checkout = engine.checkout
    payments = [p for claim_id in claim_ids for p in checkout._by_claim.pop(claim_id, ())]
    for payment in payments:
        checkout._by_id.pop(payment.id, None)
        checkout.forget_key(payment)
    return payments


def _forget_queues(engine: SaleEngine, product_ids: set[str]) -> None:
    """The production queues of products no launch sells any more (a rehearsal's product
    is its own: a real launch never sells it)."""
    still_sold = {b.product.id for b in engine._books.values()}
    queues = engine.orders.fulfilment._queues
    for key in [k for k in queues if k[0] in product_ids and k[0] not in still_sold]:
        del queues[key]


def forget_fan(engine: SaleEngine, fan_id: str) -> None:
    """An erased fan: their orders no longer say where they shipped, their entries in
    draws still to come are gone, and no backup list offers them a unit."""
    for order in engine.orders.all():
        if order.fan_id == fan_id:
            order.shipping = None
    for book in engine.books():
        entry = book.reservations.get(fan_id)
        if entry is not None and book.launch.drawn_at is None:
            del book.reservations[fan_id]
    engine.draws.backups.pass_over(fan_id)
