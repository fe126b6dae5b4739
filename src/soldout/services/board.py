"""The ideas board's use cases: fans post ideas and problem reports, vote (once each, and
take the vote back), comment and report posts; the maker answers, moves an idea through
its statuses, merges duplicates, hides posts and bars fans from posting.

Every change is written through before it is answered (`store.board`, one transaction per
change). A vote is decided in memory without an `await` between the look and the change,
so concurrent clicks of one fan make one vote; the row's primary key (idea, fan) is the
second lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.board import (
    CLOSED,
    MAX_COMMENT,
    MAX_REASON,
    MAX_TEXT,
    MAX_TITLE,
    Comment,
    Idea,
    IdeaKind,
    IdeaStatus,
    check_category,
    check_move,
)
from soldout.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
)
from soldout.domain.fans import Fan
from soldout.domain.moderation import PostingPolicy, posting_allowance
from soldout.domain.notifications import Notification
from soldout.domain.text import check_text
from soldout.ids import new_id
from soldout.services.board_changes import apply, revert
from soldout.services.board_state import FRESH, BoardState
from soldout.store.ports import Store
from soldout.store.rows_board import BoardChange, BoardMark, BoardPut, BoardUnmark

__all__ = ["Board"]

log = logging.getLogger(__name__)


class Board:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        state: BoardState,
        policy: PostingPolicy | None = None,
        *,
        announced: Callable[[str], bool] = lambda product_id: True,
    ) -> None:
        """`announced(product_id)`: fans may see its board (`Catalog.announced`)."""
        self._store = store
        self._clock = clock
        self.state = state
        self.policy = policy or PostingPolicy()
        self._announced = announced

    def require_public(self, product_id: str, *, maker: bool = False) -> None:
        """A product's board is the maker's alone until one of its launches is published:
        to anyone else it does not exist (its ideas, releases and polls neither)."""
        if not maker and not self._announced(product_id):
            raise NotFound("product")

    async def load(self) -> None:
        self.state.load(await self._store.board.load())

    async def write(
        self, changes: Sequence[BoardChange], notes: Sequence[Notification] = ()
    ) -> None:
        """Apply `changes` to memory now (no `await` before: whoever reads the board next
        sees them), write them with `notes` in one transaction, and undo them in memory if
        that fails. (A request cancelled meanwhile undoes nothing: its write goes on. A
        failed write stops the store from taking any more, so undos of writes in flight
        together are not ordered between them: the next start reads the record again.)"""
        undo = apply(self.state, changes)
        try:
            if notes:
                async with self._store.transaction() as tx:
                    tx.board.write(changes)
                    tx.notifications.add_many(notes)
            else:
                await asyncio.shield(self._store.board.write(changes))
        except Exception:
            revert(undo)
            raise

    # -- fans ---------------------------------------------------------------------------
    async def fan(self, fan_id: str) -> Fan:
        fan = await self._store.fans.get(fan_id)
        if fan is None or fan.erased_at is not None:
            raise NotFound("fan")
        return fan

    def _paced(self, fan: Fan) -> None:
        """Refuse a barred fan, and a fan over their posts an hour (fewer while new). Called
        with no `await` between it and the write that notes the post."""
        bar = self.state.barred(fan.id)
        if bar is not None:
            raise Forbidden("you may not post on the boards: " + bar.reason).with_code("barred")
        now = self._clock.now()
        allowed = posting_allowance(now - fan.created_at, self.policy)
        times = [t for t in self.state.posted.get(fan.id, []) if (now - t).total_seconds() < 3600]
        if len(times) >= allowed:
            raise RateLimited(3600 - (now - min(times)).total_seconds())

    async def post(
        self, fan_id: str, product_id: str, kind: str, title: object, text: object, category: object
    ) -> Idea:
        try:
            idea_kind = IdeaKind(kind)
        except ValueError:
            raise InvalidInput("kind must be idea or problem", field="kind") from None
        idea = Idea(
            id=new_id("ida"),
            product_id=product_id,
            fan_id=fan_id,
            kind=idea_kind,
            title=check_text(title, field="title", limit=MAX_TITLE),
            text=check_text(text, field="text", limit=MAX_TEXT, lines=True, required=False),
            category=check_category(category),
            created_at=self._clock.now(),
        )
        product = await self._store.products.get(product_id)
        if product is None or product.rehearsal is not None:
            raise NotFound("product")
        self.require_public(product_id)
        fan = await self.fan(fan_id)
        self._paced(fan)
        own_vote = BoardMark(idea.id, fan_id, self._fresh(fan), idea.created_at)
        await self.write([BoardPut(idea, idea.created_at), own_vote])
        return idea

    def _fresh(self, fan: Fan) -> str:
        """A vote's mark: FRESH while the account is new (it earns its idea no points)."""
        return FRESH if self._clock.now() - fan.created_at < self.policy.new_account else ""

    async def vote(self, fan_id: str, idea_id: str) -> bool:
        """Vote for an idea: True if this call cast the vote, False if it was cast before."""
        fan = await self.fan(fan_id)
        idea = self.state.idea(idea_id)  # (after the await: the idea as it is now)
        self.require_public(idea.product_id)
        if idea.status in CLOSED:
            raise self._closed(idea)
        if fan_id in self.state.votes[idea_id]:
            return False
        # decided here, and applied by `write` before its first await: one vote per fan
        await self.write([BoardMark(idea_id, fan_id, self._fresh(fan), self._clock.now())])
        return True

    async def unvote(self, fan_id: str, idea_id: str) -> bool:
        """Take a vote back: True if there was one."""
        idea = self.state.idea(idea_id)
        self.require_public(idea.product_id)
        if fan_id not in self.state.votes[idea_id]:
            return False
        if idea.status in CLOSED:
            raise self._closed(idea)
        await self.write([BoardUnmark(idea_id, fan_id)])
        return True

    @staticmethod
    def _closed(idea: Idea) -> DomainError:
        where = f" into {idea.merged_into}" if idea.merged_into else ""
        closed = Conflict(f"this idea is {idea.status.value}{where}: votes are closed")
        return closed.with_code("idea_closed")

    async def comment(self, fan_id: str | None, idea_id: str, text: object) -> Comment:
        """A fan's comment, or (without a fan) the maker's official answer."""
        body = check_text(text, field="text", limit=MAX_COMMENT, lines=True)
        fan = await self.fan(fan_id) if fan_id is not None else None
        idea = self.state.idea(idea_id, maker=fan_id is None)
        self.require_public(idea.product_id, maker=fan_id is None)
        if fan is not None:
            self._paced(fan)
        comment = Comment(new_id("cmt"), idea.id, fan_id, body, self._clock.now())
        await self.write([BoardPut(comment, comment.created_at)])
        return comment

    # -- the maker ----------------------------------------------------------------------
    async def move(self, idea_id: str, status: str, reason: object = "") -> Idea:
        idea = self.state.idea(idea_id, maker=True)
        why = check_text(reason or "", field="reason", limit=MAX_REASON, required=False)
        target = check_move(idea, status, why)
        moved = replace(idea, status=target, reason=why)
        now = self._clock.now()
        told = sorted(self.state.votes.get(idea.id, {})) if target in _TOLD else []
        notes = [_status_note(fan_id, moved, now) for fan_id in told]
        await self.write([BoardPut(moved, now)], notes)
        return moved

    async def merge(self, idea_id: str, into_id: str) -> Idea:
        """Merge a duplicate into another idea of the product: its votes move (a fan who
        voted for both counts once), and it points to the idea it went into."""
        dup = self.state.idea(idea_id, maker=True)
        into = self.state.idea(into_id, maker=True)
        if dup.id == into.id or dup.product_id != into.product_id:
            raise InvalidInput("merge into another idea of the same product", field="into")
        if dup.status in (IdeaStatus.MERGED, IdeaStatus.SHIPPED):
            raise Conflict(f"this idea is {dup.status.value}: it cannot be merged")
        if into.status is IdeaStatus.MERGED:
            raise InvalidInput(f"that idea was merged into {into.merged_into}", field="into")
        if into.status in CLOSED:
            raise InvalidInput(
                f"that idea is {into.status.value}: decline this one with a reason instead",
                field="into",
            )
        now = self._clock.now()
        merged = replace(dup, status=IdeaStatus.MERGED, merged_into=into.id)
        changes: list[BoardChange] = [BoardPut(merged, now)]  # (first: votes close at once)
        target = self.state.votes.get(into.id, {})
        for fan_id, at in self.state.votes.get(dup.id, {}).items():
            changes.append(BoardUnmark(dup.id, fan_id))
            if fan_id not in target:
                fresh = FRESH if (dup.id, fan_id) in self.state.fresh else ""
                changes.append(BoardMark(into.id, fan_id, fresh, at))
        for earlier in self.state.ideas.values():  # (ideas merged into the duplicate)
            if earlier.merged_into == dup.id:
                changes.append(BoardPut(replace(earlier, merged_into=into.id), now))
        await self.write(changes)
        return merged

    async def mark_useful(self, comment_id: str, useful: bool) -> Comment:
        comment = self.state.comment(comment_id)
        if comment.fan_id is None:
            raise InvalidInput("the maker's own answer earns no points", field="comment")
        changed = replace(comment, useful=useful)
        await self.write([BoardPut(changed, self._clock.now())])
        return changed

    def now(self) -> datetime:
        return self._clock.now()


_TOLD = {IdeaStatus.UNDER_REVIEW, IdeaStatus.PLANNED, IdeaStatus.IN_PROGRESS, IdeaStatus.DECLINED}
_SAID = {
    IdeaStatus.UNDER_REVIEW: "is under review",
    IdeaStatus.PLANNED: "is planned",
    IdeaStatus.IN_PROGRESS: "is in progress",
    IdeaStatus.DECLINED: "was declined",
}


def _status_note(fan_id: str, idea: Idea, now: datetime) -> Notification:
    """What a voter is told in the app when the maker moves the idea (by e-mail only when
    it ships: a release's letter)."""
    why = f" ({idea.reason})" if idea.reason else ""
    return Notification(
        new_id("ntf"),
        fan_id,
        "idea_status",
        f"An idea you voted for {_SAID[idea.status]}: “{idea.title}”{why}.",
        now,
        {
            "idea_id": idea.id,
            "status": idea.status.value,
            "title": idea.title,
            "reason": idea.reason,
            "link": f"/ideas/{idea.id}",
        },
        email=False,
    )
