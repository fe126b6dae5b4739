"""Priority codes: issued with a unit set aside for each, and expired on time.

A code is usable once the `Allocator` knows it; its unit stays aside until it is redeemed
(a claim with the code takes it) or expires (the sweeper puts it back on sale, here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import InvalidInput
from soldout.engine.allocator import Allocator
from soldout.engine.book import LaunchBook
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.scheduler import CodeExpiry, Scheduler
from soldout.ids import new_priority_code
from soldout.store.ports import Store

__all__ = ["CodeDesk"]


class CodeDesk:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        books: LaunchBooks,
        allocator: Allocator,
        scheduler: Scheduler,
        unit_returned: Callable[[LaunchBook, str], None],
    ) -> None:
        """`unit_returned(book, sku)`: the unit of an expired code is on sale again."""
        self._store = store
        self._clock = clock
        self._books = books
        self._allocator = allocator
        self._scheduler = scheduler
        self._unit_returned = unit_returned

    def load(self, codes: Iterable[PriorityCode], now: datetime) -> None:
        for code in codes:
            self._allocator.restore_code(code, now)
            self._watch(code)

    async def issue(
        self,
        launch_id: str,
        sku: str | None,
        count: int,
        expires_at: datetime | None = None,
        granted_to: str | None = None,
    ) -> list[PriorityCode]:
        """Set `count` units aside and make a code for each. Without a SKU the codes are for
        any SKU: each sets aside a unit of the SKU with the most units open right now."""
        self._books.get(launch_id)  # NotFound first
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("the expiry must be in the future", field="expires_at")
        codes = [
            PriorityCode(
                new_priority_code(),
                launch_id,
                held,
                now,
                expires_at=expires_at,
                any_sku=sku is None,
                granted_to=granted_to,
            )
            for held in self._allocator.set_aside(launch_id, sku, count)
        ]
        self._allocator.add_codes(codes)
        written = asyncio.ensure_future(self._store.codes.add_many(codes))
        try:
            await asyncio.shield(written)  # a cancelled request: the codes are still made
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._allocator.withdraw_codes(codes)
            raise
        for code in codes:
            self._watch(code)
        return codes

    def expire(self, wake_up: CodeExpiry, now: datetime) -> None:
        """The sweeper's: the code's unit goes back on sale unless it was redeemed."""
        sku = self._allocator.expire_code(wake_up.launch_id, wake_up.code, now)
        if sku is not None:
            self._unit_returned(self._books.get(wake_up.launch_id), sku)

    def _watch(self, code: PriorityCode) -> None:
        """A live code with an expiry: the sweeper returns its unit when it expires."""
        if code.expires_at is not None and not code.is_spent:
            self._scheduler.schedule(CodeExpiry(code.expires_at, code.code, code.launch_id))
