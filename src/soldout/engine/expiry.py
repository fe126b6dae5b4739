"""When unpaid claims expire: a queue of held claims by deadline, and the sweeper's wake-up.

The sweeper sleeps until the earliest deadline (at most `max_sleep`); a new claim wakes it
only if it expires before that wake-up, so the usual claim (a constant payment window,
so a later deadline) costs a heap push and nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import datetime, timedelta

from soldout.clock import Clock

__all__ = ["ExpiryQueue"]

log = logging.getLogger(__name__)


class ExpiryQueue:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[datetime, str]] = []
        self._changed = asyncio.Event()
        self._wakes_at: datetime | None = None

    def push(self, expires_at: datetime, claim_id: str) -> None:
        heapq.heappush(self._heap, (expires_at, claim_id))
        if self._wakes_at is None or expires_at < self._wakes_at:
            self._changed.set()

    def due(self, now: datetime) -> Iterator[str]:
        """Pop the ids of every claim whose deadline is `now` or earlier (some may have
        been paid, cancelled or undone since: the caller checks)."""
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[1]

    def next(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def drop(self, ids: Collection[str]) -> None:
        """Forget these ids (a removed rehearsal's claims, codes and draws): O(n), rare."""
        kept = [entry for entry in self._heap if entry[1] not in ids]
        if len(kept) != len(self._heap):
            heapq.heapify(kept)
            self._heap = kept

    def waiting(self) -> list[str]:
        """Every id on the queue (held claims, and the codes and draws it wakes for): as
        many as are held now, not every claim ever made."""
        return [name for _, name in self._heap]

    async def run(self, expire_due: Callable[[], Awaitable[int]], max_sleep: float = 1.0) -> None:
        """Call `expire_due` at every deadline, until cancelled."""
        while True:
            try:
                await expire_due()
            except Exception:  # e.g. the store has failed: keep the loop, log it
                log.exception("expiring claims failed")
            now = self._clock.now()
            due = self.next()
            wait = max_sleep
            if due is not None:
                wait = min(max_sleep, max(0.0, (due - now).total_seconds()))
            self._wakes_at = now + timedelta(seconds=wait)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait)
