"""What the maker tells and asks on a product's board: releases that ship ideas (every fan
who voted for one is told), polls that size the next batch (with the demand a launch form
shows), and priority codes for the product's top contributors."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.board import MAX_TEXT, MAX_TITLE, IdeaStatus, Release, voters
from soldout.domain.claims import OrderStatus
from soldout.domain.contribution import Reward
from soldout.domain.errors import Conflict, DomainError, InvalidInput
from soldout.domain.launches import Phase
from soldout.domain.notifications import Notification
from soldout.domain.polls import OptionTally, Poll, check_options, suggest_batch, tally
from soldout.domain.products import Product
from soldout.domain.text import check_text
from soldout.engine import SaleEngine
from soldout.ids import new_id
from soldout.services.board import Board
from soldout.services.board_state import BoardState
from soldout.store.ports import Store
from soldout.store.rows_board import BoardChange, BoardMark, BoardPut

__all__ = ["BUYERS_EVERY", "BoardNews", "Demand"]

BUYERS_EVERY = 30.0  # seconds a product's buyers are kept before they are read again


@dataclass(frozen=True, slots=True)
class Demand:
    """What the launch form shows beside the batch: per SKU, the reservations still
    waiting for a unit and a poll's answers (verified buyers' apart), and a split."""

    waiting: dict[str, int]  # SKU (or "" for reservations of no SKU) -> fans waiting
    poll: Poll | None
    results: list[OptionTally]
    total: int
    suggested: dict[str, int]


class BoardNews:
    def __init__(self, store: Store, clock: Clock, board: Board, engine: SaleEngine) -> None:
        self._store = store
        self._clock = clock
        self._board = board
        self._engine = engine
        self.state: BoardState = board.state
        self._buyers: dict[str, tuple[datetime, set[str]]] = {}
        self._rewarding = asyncio.Lock()  # one reward run at a time: no fan gets two codes

    # -- releases -----------------------------------------------------------------------
    async def publish(
        self, product_id: str, title: object, notes: object, idea_ids: Sequence[str]
    ) -> tuple[Release, int]:
        """Publish a release that ships `idea_ids`: each is marked shipped in it, and every
        fan who voted for any of them is told once (in-app and by e-mail), in the same
        transaction. Returns the release and how many fans were told."""
        ideas = []
        for idea_id in dict.fromkeys(idea_ids):
            if idea_id not in self.state.ideas:
                raise InvalidInput(f"no idea {idea_id} on this board", field="ideas")
            ideas.append(self.state.ideas[idea_id])
        for idea in ideas:
            if idea.product_id != product_id:
                raise InvalidInput(f"idea {idea.id} is not on this product's board", field="ideas")
            if idea.status in (IdeaStatus.SHIPPED, IdeaStatus.MERGED):
                raise Conflict(f"idea {idea.id} is {idea.status.value} already")
        now = self._clock.now()
        release = Release(
            new_id("rls"),
            product_id,
            check_text(title, field="title", limit=MAX_TITLE),
            check_text(notes or "", field="notes", limit=MAX_TEXT, lines=True, required=False),
            tuple(i.id for i in ideas),
            now,
        )
        changes: list[BoardChange] = [BoardPut(release, now)]
        changes += [
            BoardPut(replace(i, status=IdeaStatus.SHIPPED, release_id=release.id), now)
            for i in ideas
        ]
        told = sorted(voters(self.state.votes, release.idea_ids))
        notes_out = [self._shipped_note(fan, release, now) for fan in told]
        # (applied before the write is awaited: a second publish finds the ideas shipped)
        await self._board.write(changes, notes_out)
        return release, len(told)

    def _shipped_note(self, fan_id: str, release: Release, now: datetime) -> Notification:
        shipped = [self.state.ideas[i] for i in release.idea_ids]
        voted = [i for i in shipped if fan_id in self.state.votes.get(i.id, {})]
        names = "; ".join(f"“{i.title}”" for i in voted)
        return Notification(
            new_id("ntf"),
            fan_id,
            "idea_shipped",
            f"You asked for it, and it shipped in {release.title}: {names}.",
            now,
            {
                "release_id": release.id,
                "release_title": release.title,
                "product_id": release.product_id,
                "idea_ids": [i.id for i in voted],
                "idea_titles": [i.title for i in voted],
                "link": f"/releases/{release.id}",
            },
        )

    # -- polls --------------------------------------------------------------------------
    async def ask(
        self, product: Product, question: object, options: object, closes_at: datetime | None
    ) -> Poll:
        now = self._clock.now()
        if closes_at is not None and closes_at <= now:
            raise InvalidInput("a poll closes in the future", field="closes_at")
        poll = Poll(
            new_id("pol"),
            product.id,
            check_text(question, field="question", limit=MAX_TITLE),
            check_options(options, [s.code for s in product.skus]),
            now,
            closes_at,
        )
        await self._board.write([BoardPut(poll, now)])
        return poll

    async def close(self, poll_id: str, *, closed: bool = True, hidden: bool | None = None) -> Poll:
        poll = self.state.poll(poll_id, maker=True)
        closes_at = poll.closes_at
        if not closed and closes_at is not None and closes_at <= self._clock.now():
            closes_at = None  # opened again by hand after its time: open until closed by hand
        hide = poll.hidden if hidden is None else hidden
        changed = replace(poll, closed=closed, closes_at=closes_at, hidden=hide)
        await self._board.write([BoardPut(changed, self._clock.now())])
        return changed

    async def answer(self, fan_id: str, poll_id: str, option: object) -> str:
        """A fan's answer (one per fan: answering again changes it while the poll is open)."""
        poll = self.state.poll(poll_id)
        self._board.require_public(poll.product_id)
        chosen = poll.check_answer(option, self._clock.now())
        await self._board.write([BoardMark(poll.id, fan_id, chosen.key, self._clock.now())])
        return chosen.key

    async def results(self, poll: Poll) -> list[OptionTally]:
        return tally(poll, self.state.answers.get(poll.id, {}), await self.buyers(poll.product_id))

    async def buyers(self, product_id: str) -> set[str]:
        """Fans with a paid order (not refunded) of any launch of the product: read from
        the record at most every BUYERS_EVERY seconds per product (a poll's page is read
        by many; who bought changes slowly beside it)."""
        now = self._clock.now()
        kept = self._buyers.get(product_id)
        if kept is not None and (now - kept[0]).total_seconds() < BUYERS_EVERY:
            return kept[1]
        launches = [lc.id for lc in await self._store.launches.all() if lc.product_id == product_id]
        orders = await self._store.orders.of_launches(launches)
        found = {o.fan_id for o in orders if o.status is not OrderStatus.REFUNDED}
        self._buyers[product_id] = (now, found)
        return found

    async def demand(self, product: Product, total: int | None = None) -> Demand:
        """Per SKU: reservations of the product's launches whose fan has no order of that
        launch yet, and the answers of the newest poll whose options name SKUs; the split
        of `total` units (by default, as many as fans wait) that `suggest_batch` makes."""
        launches = [
            lc.id
            for lc in await self._store.launches.all()
            if lc.product_id == product.id and lc.rehearsal is None and lc.cancelled_at is None
        ]
        bought = {(o.launch_id, o.fan_id) for o in await self._store.orders.of_launches(launches)}
        waiting: Counter[str] = Counter()
        for r in await self._store.reservations.of_launches(launches):
            if (r.launch_id, r.fan_id) not in bought:
                waiting[r.sku or ""] += 1
        poll = next(
            (p for p in self.state.polls_of(product.id) if any(o.sku for o in p.options)), None
        )
        results = await self.results(poll) if poll is not None else []
        by_sku = {t.option.sku: t.answers for t in results if t.option.sku}
        skus = [s.code for s in product.skus]
        assigned = {s: waiting.get(s, 0) for s in skus}
        # reservations of no SKU follow the poll (or the rest of demand) in `suggest_batch`
        unassigned = waiting.get("", 0)
        size = sum(waiting.values()) if total is None else total
        suggested = suggest_batch(size, assigned, by_sku, skus, unassigned=unassigned)
        return Demand(dict(waiting), poll, results, size, suggested)

    # -- rewards ------------------------------------------------------------------------
    def contributors(self, product_id: str, n: int) -> list[tuple[str, int]]:
        """The product's top `n` contributors by points (ties by fan id), those barred out."""
        points = self.state.points(product_id)
        ranked = sorted(
            ((fan, p) for fan, p in points.items() if p > 0 and not self.state.barred(fan)),
            key=lambda fp: (-fp[1], fp[0]),
        )
        return ranked[:n]

    async def reward(
        self, product_id: str, launch_id: str, top: int
    ) -> tuple[list[Reward], str | None]:
        """One priority code each for the product's `top` contributors who have none for
        this launch yet (running it twice gives no one a second code). Returns the rewards
        given and, if it stopped before the end (no unit left to set aside), why."""
        book = self._engine.book(launch_id)
        if book.launch.product_id != product_id:
            raise InvalidInput("that launch sells another product", field="launch_id")
        if book.launch.rehearsal is not None:
            raise InvalidInput("that launch is a rehearsal's", field="launch_id")
        if book.launch.phase(self._clock.now()) is Phase.CLOSED:
            raise Conflict("that launch is closed: its codes would buy nothing").with_code(
                "launch_closed"
            )
        if not 1 <= top <= 1000:
            raise InvalidInput("top must be 1 to 1000", field="top")
        async with self._rewarding:
            had = {r.fan_id for r in self.state.rewards.values() if r.launch_id == launch_id}
            chosen = [(f, p) for f, p in self.contributors(product_id, top) if f not in had]
            rewards: list[Reward] = []
            for fan_id, points in chosen:
                try:
                    (code,) = await self._engine.codes.issue(launch_id, None, 1)
                except DomainError as refusal:
                    if not rewards:
                        raise
                    return rewards, refusal.message
                now = self._clock.now()
                reward = Reward(
                    new_id("rwd"), product_id, launch_id, fan_id, code.code, points, now
                )
                note = Notification(
                    new_id("ntf"),
                    fan_id,
                    "contributor_code",
                    f"Thank you for shaping {book.launch.title}: here is a priority code for"
                    f" it: {code.code}.",
                    now,
                    {"launch_id": launch_id, "codes": [code.code]},
                )
                await self._board.write([BoardPut(reward, now)], [note])
                rewards.append(reward)
        return rewards, None
