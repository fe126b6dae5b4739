"""The sweeper: what each wake-up on the scheduler's queue does when it is due.

Unpaid claims whose window passed expire (their units back on sale, their releases
written in one go), expired priority codes give their units back, draw launches are
drawn, each on its own so that one failed draw does not stop the others, and launches
closed long enough leave memory (`archive.Archive.evict`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState
from soldout.engine.ledger import ClaimLedger
from soldout.engine.releases import Releases
from soldout.engine.scheduler import ArchiveTime, ClaimDeadline, CodeExpiry, DrawTime, Scheduler
from soldout.store.ports import Store

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler: Scheduler,
        ledger: ClaimLedger,
        releases: Releases,
        expire_code: Callable[[CodeExpiry, datetime], None],
        draw: Callable[[str], Awaitable[None]],
        evict: Callable[[str, datetime], object],
    ) -> None:
        """`expire_code(wake_up, now)` gives an expired code's unit back; `draw(launch_id)`
        draws a launch (or schedules a retry); `evict(launch_id, now)` archives a launch
        closed long enough (or schedules a retry)."""
        self._store = store
        self._clock = clock
        self._scheduler = scheduler
        self._ledger = ledger
        self._releases = releases
        self._expire_code = expire_code
        self._draw = draw
        self._evict = evict

    async def expire_due(self) -> int:
        """Expire every held claim whose payment window has passed; return how many."""
        now = self._clock.now()
        expired: list[Claim] = []
        draws = []
        leaving: list[str] = []  # archived once this pass's releases are written
        for wake_up in self._scheduler.due(now):
            if isinstance(wake_up, DrawTime):
                draws.append(wake_up.launch_id)
            elif isinstance(wake_up, CodeExpiry):
                self._expire_code(wake_up, now)
            elif isinstance(wake_up, ArchiveTime):
                leaving.append(wake_up.launch_id)
            elif isinstance(wake_up, ClaimDeadline):
                claim = self._ledger.find(wake_up.claim_id)  # None: undone after a failed write
                if claim is not None and claim.is_held:
                    self._releases.close(claim, ClaimState.EXPIRED, now)
                    expired.append(claim)
        if expired:
            await self._store.claims.release_many([c.id for c in expired], ClaimState.EXPIRED, now)
        for launch_id in leaving:
            self._evict(launch_id, now)
        for launch_id in draws:
            try:
                await self._draw(launch_id)
            except Exception:  # one launch's failed draw must not stop the others
                log.exception("the draw of launch %s failed", launch_id)
        return len(expired)

    async def run(self, max_sleep: float = 1.0) -> None:
        """Release unpaid claims as their windows pass. Runs until cancelled."""
        await self._scheduler.run(self.expire_due, max_sleep)
