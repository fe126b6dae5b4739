"""Work the engine starts without anyone waiting for it: a release queued after a lazy
expiry, a drawn unit passed to the next backup, a hosted payment page closed, money sent
back for an order that could not be recorded. A failure is logged, never raised.

    background = Background()
    background.run(store.claims.release_many([claim.id], state, at))
    await background.drain()  # tests: until it (and what it started) is done
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

__all__ = ["Background"]

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._running: set[asyncio.Future[object]] = set()

    def run(self, work: Awaitable[object]) -> None:
        """Run `work` without anyone waiting for it; its failure is logged."""
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._done)

    async def drain(self) -> None:
        """Wait until the work started in the background (and what it starts) is done."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    def _done(self, done: asyncio.Future[object]) -> None:
        self._running.discard(done)
        if not done.cancelled() and done.exception() is not None:
            log.error("background work failed: %s", done.exception())
