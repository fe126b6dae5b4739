"""Rehearsals on a store that also sells for real: what a run makes up is marked with its
run id, kept apart from the real shop, and removed whole while the server runs.

    await rehearsals.register("a1b2c3d4", "fan1@rehearsal.test", "fan 1")  # a made-up fan
    overview = await rehearsals.overview()          # the real shop's counts, and each run's
    removal = await rehearsals.remove("a1b2c3d4")   # everything of run a1b2c3d4, gone

Removing a run live, rather than on a stopped store, is what lets `soldout rehearse
--clean --target URL` work against a shop that must stay up. It is safe because the
engine holds every id of the run: its launches are cancelled first (nothing new can start
on them), what is still running for them is awaited, and then, in one tick of the event
loop, the engine, the gate and the referrals forget the run and the store's purge is
queued (`engine.forget`). The run's captured test payments are refunded at the provider
afterwards, so that reconciliation finds no money without an order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from soldout.domain.errors import Conflict, DomainError
from soldout.domain.fans import Fan
from soldout.domain.money import Money
from soldout.domain.payments import PaymentState
from soldout.domain.products import Product, Sku
from soldout.domain.rehearsals import RunCounts, RunRecord, check_run_id
from soldout.engine import SaleEngine
from soldout.engine.forget import Forgotten, forget_launches, in_flight
from soldout.payments import PaymentProvider
from soldout.services.catalog import Catalog, LaunchChanges
from soldout.services.fans import Fans
from soldout.store.ports import Store

__all__ = ["Forgetter", "Rehearsals", "Removal"]

log = logging.getLogger(__name__)

# (run, the run's launch ids, its fan ids, its order ids): a service's own forgetting
Forgetter = Callable[[str, Collection[str], Collection[str], Collection[str]], None]


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing a run deleted; `refunds_failed`: captured payments the provider did
    not give back (reconciliation shows them as money without an order)."""

    run: str
    launches: int
    products: int
    fans: int
    claims: int
    orders: int
    payments: int
    refunds_failed: int = 0

    def counts(self) -> dict[str, int]:
        """What was removed, counted: for the audit log and the answer."""
        return {k: v for k, v in asdict(self).items() if k != "run"}


class Rehearsals:
    def __init__(
        self,
        store: Store,
        engine: SaleEngine,
        catalog: Catalog,
        fans: Fans,
        provider: PaymentProvider,
        forgetters: Collection[Forgetter] = (),
    ) -> None:
        self._store = store
        self._engine = engine
        self._catalog = catalog
        self._fans = fans
        self._provider = provider
        self._forgetters = list(forgetters)

    # -- what a run makes up ---------------------------------------------------------
    async def create_product(
        self, run: str, name: str, description: str, skus: list[Sku]
    ) -> Product:
        return await self._catalog.create_product(
            name, description, skus, rehearsal=check_run_id(run)
        )

    async def register(
        self,
        run: str,
        email: str,
        name: str,
        referral_code: str | None = None,
        address: str | None = None,
        phone: str | None = None,
        shipping: Mapping[str, Any] | None = None,
    ) -> tuple[Fan, str]:
        """A made-up fan of the run, with its token (see `Fans.register`)."""
        return await self._fans.register(
            email,
            name,
            referral_code,
            address,
            phone,
            shipping=shipping,
            rehearsal=check_run_id(run),
        )

    # -- what is there -----------------------------------------------------------------
    async def overview(self) -> tuple[RunCounts, list[RunCounts]]:
        """The real shop's counts (what a rehearsal would run beside), and each run's."""
        products = await self._store.products.all()
        books = self._engine.books()
        runs = set(self._engine.rehearsals.runs())
        runs |= {p.rehearsal for p in products if p.rehearsal is not None}
        runs |= {b.launch.rehearsal for b in books if b.launch.rehearsal is not None}
        fans = self._engine.rehearsals.runs()

        order_counts = await self._engine.archive.order_counts()

        def counts(run: str | None, fan_count: int) -> RunCounts:
            launches = [b.launch.id for b in books if b.launch.rehearsal == run]
            claims = sum(sum(self._engine.book(i).claim_states.values()) for i in launches)
            orders = sum(order_counts.get(i, 0) for i in launches)
            return RunCounts(
                run,
                products=sum(1 for p in products if p.rehearsal == run),
                launches=len(launches),
                fans=fan_count,
                claims=claims,
                orders=orders,
                launch_ids=tuple(launches),
            )

        real = counts(None, await self._store.rehearsals.real_fans())
        return real, [counts(run, fans.get(run, 0)) for run in sorted(runs)]

    # -- removing a run ----------------------------------------------------------------
    async def remove(self, run: str, *, wait_seconds: float = 30.0) -> Removal:
        """Delete everything run `run` made, while the server runs. Idempotent: a run with
        nothing left removes nothing. 409 `rehearsal_busy` if its payments or writes are
        still running after `wait_seconds` (try again)."""
        check_run_id(run)
        launch_ids = [b.launch.id for b in self._engine.books() if b.launch.rehearsal == run]
        for launch_id in launch_ids:  # nothing new starts: no claim, payment or backup
            if self._engine.book(launch_id).launch.cancelled_at is None:
                await self._catalog.change_launch(launch_id, LaunchChanges(cancel=True))
        products = [p.id for p in await self._store.products.all() if p.rehearsal == run]
        await self._settle(launch_ids, wait_seconds)
        # From here to the purge's queueing, nothing yields: no request sees half of it.
        forgotten = forget_launches(self._engine, launch_ids)
        fan_ids = self._engine.rehearsals.forget(run)
        order_ids = [o.id for o in forgotten.orders]
        for forget in self._forgetters:
            forget(run, launch_ids, fan_ids, order_ids)
        record = RunRecord(
            run,
            launch_ids=forgotten.launch_ids,
            product_ids=tuple(products),
            fan_ids=tuple(fan_ids),
            claim_ids=forgotten.claim_ids,
            order_ids=tuple(order_ids),
            payment_ids=tuple(p.id for p in forgotten.payments),
            secrets=forgotten.secrets,
        )
        await asyncio.shield(self._store.rehearsals.purge(record))
        failed = await self._give_back(forgotten)
        return Removal(
            run,
            launches=len(record.launch_ids),
            products=len(products),
            fans=len(fan_ids),
            claims=len(record.claim_ids),
            orders=len(order_ids),
            payments=len(record.payment_ids),
            refunds_failed=failed,
        )

    async def _settle(self, launch_ids: Collection[str], wait_seconds: float) -> None:
        """Wait for the run's writes and payments already running (none can start now)."""
        deadline = time.monotonic() + wait_seconds
        while pending := in_flight(self._engine, launch_ids):
            left = deadline - time.monotonic()
            waiting = asyncio.gather(*(asyncio.shield(f) for f in pending), return_exceptions=True)
            try:
                await asyncio.wait_for(waiting, max(left, 0.0))
            except TimeoutError:
                raise Conflict(
                    "this rehearsal still has payments or writes running; try again shortly",
                    field="run",
                ).with_code("rehearsal_busy") from None

    async def _give_back(self, forgotten: Forgotten) -> int:
        """Refund (or void) at the provider what the run's payments still hold; how many
        could not be. After the purge: the provider's webhooks then name a payment soldout
        no longer has, and change nothing."""
        failed = 0
        for payment in forgotten.payments:
            if payment.reference is None or payment.state not in (
                PaymentState.AUTHORIZED,
                PaymentState.CAPTURED,
            ):
                continue
            try:
                await self._provider.refund(
                    payment.reference, Money(payment.amount, payment.currency)
                )
            except DomainError as refusal:
                failed += 1
                log.warning("rehearsal payment %s not refunded: %s", payment.id, refusal)
        return failed
