"""An in-memory store for unit tests: the same ports, dicts behind them, durable at once.

`InMemoryStore.crash_copy()` gives a new store holding what was written, to test that the
engine rebuilds from the record after a restart. A transaction block is applied whole when
it exits (`memory_transaction.py`); a test can make the next one fail
(`fail_next_transaction`) or hold or refuse blocks as they commit (`before_commit`).
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime

from soldout.domain.audit import AuditEntry
from soldout.domain.fulfilment import ProductionPlan
from soldout.domain.rehearsals import RunRecord
from soldout.store.memory_access import MemorySessions, MemoryTeam
from soldout.store.memory_catalogue import _Codes, _Launches, _Products, _Reservations
from soldout.store.memory_sale import _Claims, _Fans, _Orders, _Payments
from soldout.store.memory_site import (
    MemoryBoard,
    MemoryLinks,
    MemoryMedia,
    MemoryNotifications,
    MemoryShop,
)
from soldout.store.memory_transaction import BeforeCommit, Journal, MemoryTransaction
from soldout.store.ports import StoreHealth

__all__ = ["InMemoryStore", "MemoryTransaction"]


class _Plans:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[tuple[str, str], ProductionPlan] = {}
        self._journal = journal

    def put(
        self, product_id: str, sku: str, plan: ProductionPlan, at: datetime
    ) -> asyncio.Future[None]:
        self.rows[(product_id, sku)] = plan
        return self._journal.done()

    async def all(self) -> Sequence[tuple[str, str, ProductionPlan]]:
        return [(product, sku, plan) for (product, sku), plan in self.rows.items()]


class _Audit:
    def __init__(self, journal: Journal) -> None:
        self.rows: list[AuditEntry] = []
        self._journal = journal

    def add(self, entry: AuditEntry) -> asyncio.Future[None]:
        self.rows.append(entry)
        return self._journal.done()

    async def recent(self, limit: int) -> Sequence[AuditEntry]:
        return list(reversed(self.rows))[:limit]


class _Rehearsals:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def marks(self) -> Sequence[tuple[str, str]]:
        return [(f.id, f.rehearsal) for f in self._store.fans.rows.values() if f.rehearsal]

    async def real_fans(self) -> int:
        return sum(1 for f in self._store.fans.rows.values() if f.rehearsal is None)

    def purge(self, record: RunRecord) -> asyncio.Future[None]:
        s = self._store
        launches, products = set(record.launch_ids), set(record.product_ids)
        fans, orders = set(record.fan_ids), set(record.order_ids)
        s.orders.event_rows = [e for e in s.orders.event_rows if e.order_id not in orders]
        for rows, ids in (
            (s.orders.rows, orders),
            (s.payments.rows, record.payment_ids),
            (s.claims.rows, record.claim_ids),
            (s.launches.rows, launches),
            (s.products.rows, products),
            (s.fans.rows, fans),
            (s.secrets, record.secrets),
        ):
            for key in ids:
                rows.pop(key, None)
        s.codes.rows = {k: c for k, c in s.codes.rows.items() if c.launch_id not in launches}
        s.reservations.rows = [r for r in s.reservations.rows if r.launch_id not in launches]
        s.plans.rows = {k: p for k, p in s.plans.rows.items() if k[0] not in products}
        for fan_id in fans:
            s.notifications.forget(fan_id)
        return s.journal.done()


class InMemoryStore:
    def __init__(self) -> None:
        journal = self.journal = Journal()
        self.products = _Products(journal)
        self.launches = _Launches(journal)
        self.fans = _Fans(journal)
        self.reservations = _Reservations(journal)
        self.codes = _Codes(journal)
        self.orders = _Orders(journal, self.fans)
        self.payments = _Payments(journal)
        self.plans = _Plans(journal)
        self.team = MemoryTeam(journal)
        self.notifications = MemoryNotifications(journal, self.fans.rows, self.team.rows)
        self.team.notifications = self.notifications
        self.audit = _Audit(journal)
        self.media = MemoryMedia(journal)
        self.shop = MemoryShop(journal)
        self.links = MemoryLinks(journal)
        self.board = MemoryBoard(journal)
        self.fans.orders, self.fans.notifications = self.orders, self.notifications
        self.fans.reservations, self.fans.launches = self.reservations, self.launches
        self.claims = _Claims(journal, self.codes, self.orders, self.payments)
        self.payments.claim_rows = self.claims.rows
        self.secrets: dict[str, bytes] = {}
        self.rehearsals = _Rehearsals(self)
        self.sessions = MemorySessions(journal)
        # Called with each block as it exits, before anything of it is applied: it may raise
        # (the block fails: nothing applied) or return an awaitable the commit waits for
        # (a commit in flight; single writes made meanwhile apply at once, before it).
        self.before_commit: BeforeCommit | None = None
        self._failures: deque[BaseException] = deque()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def secret(self, name: str) -> bytes:
        return self.secrets.setdefault(name, secrets.token_bytes(32))

    def transaction(self) -> MemoryTransaction:
        return MemoryTransaction(self, self._commit)

    def fail_next_transaction(self, error: BaseException) -> None:
        """The next block to exit applies nothing and raises `error` (queued: once each)."""
        self._failures.append(error)

    def health(self) -> StoreHealth:
        return StoreHealth(None, self.journal.transactions, self.journal.writes)

    def on_commit(self, listener: Callable[[int, float], None]) -> None:
        self.journal.listeners.append(listener)

    def _commit(self, tx: MemoryTransaction) -> None:
        """A block exits: fail it, hold it, or apply it now."""
        if self._failures:
            tx.fail(self._failures.popleft())
            return
        if self.before_commit is not None:
            try:
                held = self.before_commit(tx)
            except Exception as refused:
                tx.fail(refused)
                return
            if held is not None:
                waiting = asyncio.ensure_future(held)
                waiting.add_done_callback(lambda _: self._after_hold(waiting, tx))
                return
        tx.apply(self.journal)

    def _after_hold(self, held: asyncio.Future[None], tx: MemoryTransaction) -> None:
        error = None if held.cancelled() else held.exception()
        if held.cancelled() or error is not None:
            tx.fail(error or asyncio.CancelledError())
        else:
            tx.apply(self.journal)

    def crash_copy(self) -> InMemoryStore:
        """What a restarted process would find: a deep copy of everything written (not
        the hooks a test set: a restarted process has none)."""
        hook, self.before_commit = self.before_commit, None
        try:
            copied = copy.deepcopy(self)
        finally:
            self.before_commit = hook
        copied._failures.clear()
        return copied
