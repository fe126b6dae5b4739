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

This module is the one place that knows every part of the engine that holds something
of a launch or a fan; each part forgets its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from soldout.domain.claims import Order
from soldout.domain.payments import PaymentRecord
from soldout.engine.draws import seed_name

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
    for launch_id in launch_ids:
        pending += engine.reservations.writing(launch_id)
        for claim in engine.ledger.of_launch(launch_id):
            running = (engine.writing(claim.id), engine.checkout.running(claim.id))
            pending += [f for f in running if f is not None]
    return pending


def forget_launches(engine: SaleEngine, launch_ids: Collection[str]) -> Forgotten:
    """Drop the launches and everything hanging from them from memory. Synchronous: the
    caller queues the store's purge in the same tick."""
    known = engine.launch_books.by_id
    books = [known[i] for i in launch_ids if i in known]
    ids = {b.launch.id for b in books}
    claims = [c for launch_id in ids for c in engine.ledger.of_launch(launch_id)]
    engine.ledger.forget(claims, ids)
    codes = [code for book in books for code in book.codes]
    engine.scheduler.drop({*(c.id for c in claims), *codes, *ids})
    for launch_id in ids:
        engine.draws.forget(launch_id)
    orders = engine.orders.forget(ids)
    engine.ship_news.forget(orders)  # never tell a date of a removed order
    payments = engine.checkout.forget([c.id for c in claims])
    engine.launch_books.forget(ids)
    # the production queues of products no launch sells any more (a rehearsal's product
    # is its own: a real launch never sells it)
    still_sold = {b.product.id for b in engine.launch_books.all()}
    engine.orders.fulfilment.forget({b.product.id for b in books} - still_sold)
    return Forgotten(
        tuple(sorted(ids)),
        tuple(c.id for c in claims),
        tuple(orders),
        tuple(payments),
        tuple(seed_name(b.launch.id) for b in books if b.launch.is_draw),
    )


def forget_fan(engine: SaleEngine, fan_id: str) -> None:
    """An erased fan: their orders no longer say where they shipped, their entries in
    draws still to come are gone, and no backup list offers them a unit."""
    for order in engine.orders.all():
        if order.fan_id == fan_id:
            order.shipping = None
    for book in engine.launch_books.all():
        entry = book.reservations.get(fan_id)
        if entry is not None and book.launch.drawn_at is None:
            del book.reservations[fan_id]
    engine.draws.backups.pass_over(fan_id)
