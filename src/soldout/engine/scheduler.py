"""When the sweeper wakes, and for what: typed wake-ups on one queue, by time.

A wake-up says what is due: a held claim's payment window ends (`ClaimDeadline`), a draw
launch's entries are drawn (`DrawTime`), an unredeemed priority code expires
(`CodeExpiry`), a closed launch leaves memory (`ArchiveTime`). The sweeper sleeps until
the earliest (at most `max_sleep`); a new wake-up rouses it only if it is due before
that, so the usual claim (a constant payment window, so a later deadline) costs a heap
push and nothing more.

    scheduler = Scheduler(clock)
    scheduler.schedule(DrawTime(launch.sale_opens_at, launch.id))
    for wake_up in scheduler.due(clock.now()): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import datetime, timedelta
from typing import NamedTuple

from soldout.clock import Clock

__all__ = ["ArchiveTime", "ClaimDeadline", "CodeExpiry", "DrawTime", "Scheduler", "WakeUp"]

log = logging.getLogger(__name__)


# Tuples, ordered by time first (then by the id they name): the queue is one heap of them.
class ClaimDeadline(NamedTuple):
    """A held claim's payment window ends: unpaid, it expires and its units go back."""

    at: datetime
    claim_id: str


class DrawTime(NamedTuple):
    """A draw launch's entries are drawn (or tried again, while it is not open)."""

    at: datetime
    launch_id: str


class CodeExpiry(NamedTuple):
    """An unredeemed priority code stops working: its unit goes back on sale."""

    at: datetime
    code: str
    launch_id: str


class ArchiveTime(NamedTuple):
    """A closed launch is past the time it is kept in memory: it is archived (its records
    stay in the store, read when asked)."""

    at: datetime
    launch_id: str


WakeUp = ClaimDeadline | DrawTime | CodeExpiry | ArchiveTime
_Deadline = tuple[datetime, str]  # a held claim's, as the claim path pushes it


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[WakeUp | _Deadline] = []
        self._changed = asyncio.Event()
        self._wakes_at: datetime | None = None

    def schedule(self, wake_up: WakeUp) -> None:
        heapq.heappush(self._heap, wake_up)
        if self._wakes_at is None or wake_up.at < self._wakes_at:
            self._changed.set()

    def deadline(self, at: datetime, claim_id: str) -> None:
        """A held claim's `ClaimDeadline`, kept as a plain pair: one is pushed per claim,
        and a pair costs about 30 ns to make where a named tuple costs 200 ns (it is
        handed out typed, by `due` and `waiting`)."""
        heapq.heappush(self._heap, (at, claim_id))
        if self._wakes_at is None or at < self._wakes_at:
            self._changed.set()

    def due(self, now: datetime) -> Iterator[WakeUp]:
        """Pop every wake-up due at `now` or earlier (its claim may have been paid,
        cancelled or undone since, its code redeemed: the caller checks)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            yield _typed(heapq.heappop(heap))

    def next(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def drop(self, ids: Collection[str]) -> None:
        """Forget the wake-ups for these claims, codes and launches (a removed
        rehearsal's): O(n), rare."""
        kept = [wake_up for wake_up in self._heap if wake_up[1] not in ids]
        if len(kept) != len(self._heap):
            heapq.heapify(kept)
            self._heap = kept

    def waiting(self) -> list[WakeUp]:
        """Every wake-up on the queue: as many as claims are held now (and codes and
        draws still to come), not every claim ever made."""
        return [_typed(entry) for entry in self._heap]

    async def run(self, sweep: Callable[[], Awaitable[int]], max_sleep: float = 1.0) -> None:
        """Call `sweep` at every wake-up, until cancelled."""
        while True:
            try:
                await sweep()
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


def _typed(entry: WakeUp | _Deadline) -> WakeUp:
    if isinstance(entry, DrawTime | CodeExpiry | ClaimDeadline | ArchiveTime):
        return entry
    return ClaimDeadline(*entry)
