"""Every payment attempt in memory: by id, by (fan, Idempotency-Key) and by claim; and
each claim's turn, so that one payment, webhook or refund runs at a time per claim.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from soldout.domain.payments import PaymentRecord, PaymentState

__all__ = ["PaymentRecords"]


class PaymentRecords:
    def __init__(self) -> None:
        self._by_id: dict[str, PaymentRecord] = {}
        self._by_key: dict[tuple[str, str], PaymentRecord] = {}
        self._by_claim: dict[str, list[PaymentRecord]] = {}
        self._busy: dict[str, asyncio.Future[None]] = {}

    def load(self, records: Iterable[PaymentRecord]) -> None:
        for record in records:
            self.add(record)

    # -- reading -------------------------------------------------------------------------
    def get(self, payment_id: str) -> PaymentRecord | None:
        return self._by_id.get(payment_id)

    def keyed(self, fan_id: str, key: str) -> PaymentRecord | None:
        """The attempt this fan first made with this Idempotency-Key, or None."""
        return self._by_key.get((fan_id, key))

    def of_claim(self, claim_id: str) -> list[PaymentRecord]:
        return list(self._by_claim.get(claim_id, ()))

    def open_of(self, claim_id: str) -> list[PaymentRecord]:
        """The claim's attempts not settled yet."""
        return [p for p in self._by_claim.get(claim_id, ()) if not p.settled]

    def all(self) -> list[PaymentRecord]:
        return list(self._by_id.values())

    def unsettled(self) -> list[PaymentRecord]:
        return [r for r in self._by_id.values() if not r.settled]

    def unsettled_of(self, claim_ids: Iterable[str]) -> bool:
        """Whether any attempt of these claims still waits on the provider."""
        by_claim = self._by_claim
        return any(not p.settled for c in claim_ids for p in by_claim.get(c, ()))

    def captured(self, claim_id: str) -> PaymentRecord | None:
        return next(
            (p for p in self._by_claim.get(claim_id, ()) if p.state is PaymentState.CAPTURED),
            None,
        )

    # -- changing ------------------------------------------------------------------------
    def add(self, record: PaymentRecord) -> None:
        self._by_id[record.id] = record
        self._by_key[(record.fan_id, record.idempotency_key)] = record
        self._by_claim.setdefault(record.claim_id, []).append(record)

    def adopt(self, records: Iterable[PaymentRecord]) -> None:
        """Records read back from the store (an archived launch's): each one not here yet
        is added; one already here wins, as it may be newer."""
        for record in records:
            if record.id not in self._by_id:
                self.add(record)

    def remove(self, record: PaymentRecord) -> None:
        self.forget_key(record)
        del self._by_id[record.id]
        self._by_claim[record.claim_id].remove(record)

    def forget_key(self, record: PaymentRecord) -> None:
        """A retry with the record's key is a new attempt."""
        if self._by_key.get((record.fan_id, record.idempotency_key)) is record:
            del self._by_key[(record.fan_id, record.idempotency_key)]

    def forget(self, claim_ids: Iterable[str]) -> list[PaymentRecord]:
        """Removed claims (a rehearsal's): their payments leave memory; which they were."""
        payments = [p for claim_id in claim_ids for p in self._by_claim.pop(claim_id, ())]
        for payment in payments:
            self._by_id.pop(payment.id, None)
            self.forget_key(payment)
        return payments

    # -- one at a time per claim ---------------------------------------------------------
    def busy(self, claim_id: str) -> bool:
        """A payment, webhook or refund is running for this claim right now."""
        return claim_id in self._busy

    def running(self, claim_id: str) -> asyncio.Future[None] | None:
        """Done when the claim's payment, webhook or refund running now is."""
        return self._busy.get(claim_id)

    @contextlib.asynccontextmanager
    async def turn(self, claim_id: str) -> AsyncIterator[None]:
        while (busy := self._busy.get(claim_id)) is not None:
            await asyncio.shield(busy)
        done = self._busy[claim_id] = asyncio.get_running_loop().create_future()
        try:
            yield
        finally:
            del self._busy[claim_id]
            done.set_result(None)
