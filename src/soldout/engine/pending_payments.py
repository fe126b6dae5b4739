"""Payments left pending are settled by asking the provider, every so often.

A payment is pending while the provider decides (a bank's check, a fan on a hosted page)
and until its webhook arrives. A webhook can be lost: the provider gives up sending it,
soldout was down when it came, or (the `test` provider) it was due from a process that
was killed. Without a check such a payment stays pending for ever: the fan's new attempt
is refused, the claim expires unpaid, and money may sit at the provider without an order.

So every `every` seconds each payment still open for longer than `after` is asked about
(`PaymentProvider.transaction`) and settled as its webhook would have settled it: an
order (or the money back if the claim is gone), a decline, or left pending while the
provider still says so. At start every open payment is asked about at once: nothing of
this process is in flight yet, whatever stopped the last one.

The check takes the claim's turn (`Checkout` runs one payment, webhook or refund per
claim at a time), so a webhook or the fan's retry arriving meanwhile waits for it and
finds the payment settled, or the check finds it settled and leaves it.

    check = PendingPaymentCheck(engine.checkout, clock, CheckSchedule(every=30, after=60))
    await check.settle_all()  # at start
    task = asyncio.create_task(check.run())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from soldout.clock import Clock
from soldout.domain.errors import PaymentPending
from soldout.domain.payments import PaymentRecord

__all__ = ["CheckSchedule", "PendingPaymentCheck", "SettlesWithProvider"]

log = logging.getLogger(__name__)

AT_ONCE = 4  # provider calls in flight per pass: 1,000 open hosted payments at ~0.3 s a
# call would take 75 s instead of 300 s, at ~13 calls/s, well under a provider's rate limit


class SettlesWithProvider(Protocol):
    """What the check needs of the checkout (`soldout.engine.checkout.Checkout`)."""

    def unsettled(self) -> list[PaymentRecord]:
        """Every payment whose outcome is not known yet (pending or authorized)."""
        ...

    async def ask_provider(self, record: PaymentRecord) -> bool:
        """Settle `record` from the provider's own record, in its claim's turn; whether
        it changed."""
        ...


@dataclass(frozen=True, slots=True)
class CheckSchedule:
    """How often the check runs (`every`, seconds) and how long a payment may stay open
    before it is asked about (`after`). A webhook normally arrives within seconds: after a
    minute the check rarely asks about a payment about to settle anyway, and a fan still
    on a hosted page is asked about every `every` seconds and left pending."""

    every: float = 30.0
    after: float = 60.0

    def due(self, record: PaymentRecord, now: datetime) -> bool:
        return now - record.updated_at >= timedelta(seconds=self.after)

    def asked_by(self, record: PaymentRecord, now: datetime) -> datetime:
        """When the check will have asked about `record` at the latest (if still open)."""
        due = max(now, record.updated_at + timedelta(seconds=self.after))
        return due + timedelta(seconds=self.every)

    def still_deciding(
        self, open_: Sequence[PaymentRecord], held_until: datetime, now: datetime
    ) -> PaymentPending:
        """The refusal of a new attempt while the provider decides an earlier one: when
        soldout asks again, and that the claim stays held until its deadline."""
        asked_by = max(self.asked_by(record, now) for record in open_)
        return PaymentPending(
            "the payment provider is still deciding on an earlier payment for this claim;"
            f" soldout asks it again by {asked_by.isoformat(timespec='seconds')} (if it is"
            " approved, it becomes your order) and the claim stays held until"
            f" {held_until.isoformat(timespec='seconds')}: if it is declined, pay again then"
        )


class PendingPaymentCheck:
    def __init__(
        self, checkout: SettlesWithProvider, clock: Clock, schedule: CheckSchedule
    ) -> None:
        self._checkout = checkout
        self._clock = clock
        self.schedule = schedule

    async def settle_all(self) -> int:
        """Ask about every open payment, however recent (at start); how many changed."""
        return await self._settle(self._checkout.unsettled())

    async def check(self) -> int:
        """One pass: ask about the payments open for longer than `after`; how many changed."""
        now = self._clock.now()
        due = [r for r in self._checkout.unsettled() if self.schedule.due(r, now)]
        return await self._settle(due)

    async def run(self) -> None:
        """A pass every `every` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.schedule.every)
            try:
                changed = await self.check()
            except Exception:  # e.g. the store has failed: keep the loop, log it
                log.exception("checking pending payments failed")
                continue
            if changed:
                log.info("settled %d pending payments with the provider", changed)

    async def _settle(self, records: Sequence[PaymentRecord]) -> int:
        turns = asyncio.Semaphore(AT_ONCE)

        async def one(record: PaymentRecord) -> bool:
            async with turns:
                try:
                    return await self._checkout.ask_provider(record)
                except Exception:  # one payment's failure must not stop the others
                    log.exception("payment %s could not be settled with the provider", record.id)
                    return False

        return sum(await asyncio.gather(*(one(r) for r in records)))
