"""Points a platform's `Metrics` at what keeps the figures: the store's group commit,
the waiting rooms, the e-mail outbox and the live sale."""

from __future__ import annotations

import math

from soldout.clock import Clock
from soldout.domain.errors import StorageUnavailable
from soldout.domain.launches import Phase
from soldout.engine import SaleEngine
from soldout.mail.outbox import Outbox
from soldout.metrics import Metrics, SaleFigures
from soldout.services.gate import Gate
from soldout.store.ports import Store

__all__ = ["watch"]


def watch(
    metrics: Metrics,
    store: Store,
    engine: SaleEngine,
    gate: Gate,
    outbox: Outbox | None,
    clock: Clock,
) -> None:
    store.on_commit(metrics.committed)
    metrics.store_failed.set_function(lambda: 1.0 if store.health().failed is not None else 0.0)
    metrics.rooms = gate.room_sizes
    metrics.sale = lambda: sale_figures(engine, clock)
    if outbox is not None:
        metrics.emails = lambda: outbox.totals

    async def count_outbox() -> None:
        try:
            backlog = await store.notifications.email_backlog()
            due = await store.notifications.next_email_at()
        except StorageUnavailable:
            # the store cannot be read (a database down): not known, and the scrape still
            # answers, with soldout_store_failed saying why
            metrics.outbox.set(math.nan)
            metrics.outbox_late.set(math.nan)
            return
        metrics.outbox.set(backlog)
        late = (clock.now() - due).total_seconds() if due is not None else 0.0
        metrics.outbox_late.set(max(0.0, late))

    metrics.refreshers.append(count_outbox)


def sale_figures(engine: SaleEngine, clock: Clock) -> SaleFigures:
    """Units by state for every launch not yet closed, the sweeper's lag, the payments
    still waiting for their outcome, and when the provider's webhooks were last heard."""
    now = clock.now()
    units: dict[tuple[str, str, str], int] = {}
    titles: dict[str, str] = {}
    for book in engine.books():
        if book.launch.phase(now) is Phase.CLOSED:
            continue
        titles[book.launch.id] = book.launch.title
        for sku, stock in book.stock.items():
            launch = book.launch.id
            units[launch, sku, "available"] = stock.available
            units[launch, sku, "set_aside"] = stock.set_aside
            units[launch, sku, "held"] = stock.held
            units[launch, sku, "paid"] = stock.paid
    due = engine.next_expiry()
    lag = (now - due).total_seconds() if due is not None else 0.0
    unsettled = engine.checkout.unsettled()
    oldest = min((p.created_at for p in unsettled), default=now)
    heard = engine.checkout.webhook_heard_at
    return SaleFigures(
        titles,
        units,
        max(0.0, lag),
        len(unsettled),
        max(0.0, (now - oldest).total_seconds()),
        (now - heard).total_seconds() if heard is not None else None,
    )
