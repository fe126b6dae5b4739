""" "Sold out" told to the maker's team, once per launch (`engine/maker_news.py`).

A launch is sold out when its own state says so (`LaunchBook.status`: on sale and no unit
open to everyone, each paid for, held or set aside for codes). A look at the live
launches every `EVERY` seconds finds it: the claim path stays as it is, and the e-mail is
at most that late. Once per launch: the decision is written as a mark (`sold_out:LAUNCH`
in the reminders' table) in one transaction with the team's notifications, so a restart
never tells it again, and units that come back and sell again tell nobody twice. A
launch found sold out at start without its mark (the server stopped between the claim and
the look) is told then.

    news = SoldOutNews(engine, store.notifications, clock, engine.maker_news)
    await news.load()
    await news.step()   # what sold out since the last look; `run()` loops on it
"""

from __future__ import annotations

import asyncio
import logging

from soldout.clock import Clock
from soldout.domain.claims import ClaimState
from soldout.domain.launches import Status
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.engine.maker_news import TEAM_SOLD_OUT, MakerNews
from soldout.store.ports import NotificationRepository

__all__ = ["EVERY", "SoldOutNews"]

log = logging.getLogger(__name__)

EVERY = 2.0  # seconds between two looks: how late "sold out" may be
_MARK = "sold_out:"


class SoldOutNews:
    def __init__(
        self,
        engine: SaleEngine,
        notifications: NotificationRepository,
        clock: Clock,
        news: MakerNews,
    ) -> None:
        self._engine = engine
        self._notes = notifications
        self._clock = clock
        self._news = news
        self._told: set[str] = set()  # launches whose "sold out" was decided

    async def load(self) -> None:
        progress = await self._notes.reminders()
        self._told = {k.removeprefix(_MARK) for k in progress if k.startswith(_MARK)}

    async def run(self) -> None:
        """`step` every `EVERY` seconds, until cancelled."""
        while True:
            try:
                await self.step()
            except Exception:  # the store failed, say: keep the loop, log it
                log.exception("telling the team a launch sold out failed")
            await asyncio.sleep(EVERY)

    async def step(self) -> int:
        """Tell the team of each launch sold out since the last look; return how many."""
        now = self._clock.now()
        due = [
            book
            for book in self._engine.books()
            if book.launch.id not in self._told
            and book.launch.rehearsal is None
            and not book.summary
            and book.status(now) is Status.SOLD_OUT
        ]
        for book in due:
            launch_id = book.launch.id
            self._told.add(launch_id)  # before the write's await: a second look skips it
            notes = self._news.notes(TEAM_SOLD_OUT, self._message(book), self._data(book), now)
            try:
                await self._notes.remember({_MARK + launch_id: now.isoformat()}, notes, now)
            except BaseException:
                self._told.discard(launch_id)  # not decided after all: the next look tries
                raise
        return len(due)

    def _message(self, book: LaunchBook) -> str:
        return f"{book.launch.title} sold out."

    def _data(self, book: LaunchBook) -> dict[str, object]:
        """What it stood at when it sold out: the e-mail tells these, not later figures."""
        launch = book.launch
        taken = [
            c
            for c in self._engine.ledger.of_launch(launch.id)
            if c.state in (ClaimState.HELD, ClaimState.PAID)
        ]
        revenue: dict[str, int] = {}
        for order in self._engine.orders.of_launch(launch.id):
            if order.refunded_at is None:
                revenue[order.currency] = revenue.get(order.currency, 0) + order.total
        last = max((c.created_at for c in taken), default=self._clock.now())
        return {
            "launch_id": launch.id,
            "title": launch.title,
            "opened_at": launch.sale_opens_at.isoformat(),
            "sold_out_at": max(last, launch.sale_opens_at).isoformat(),
            "paid_units": sum(book.sold(sku) for sku in book.stock),
            "held_units": sum(s.held for s in book.stock.values()),
            "set_aside": sum(s.set_aside for s in book.stock.values()),
            "revenue": revenue,
        }
