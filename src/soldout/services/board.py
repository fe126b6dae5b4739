"""The ideas board's use cases: fans post ideas and problem reports, vote (once each, and
take the vote back), comment and report posts; the maker answers, moves an idea through
its statuses, merges duplicates, hides posts and bars fans from posting.

Every change is written through before it is answered (`store.board`, one transaction per
change). A vote is decided in memory without an `await` between the look and the change,
so concurrent clicks of one fan make one vote; the row's primary key (idea, fan) is the
second lock."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
from soldout.domain.moderation import Bar, PostingPolicy, Report, posting_allowance
from soldout.domain.text import check_text
from soldout.ids import new_id
from soldout.services.board_state import BoardState
from soldout.store.ports import Store
from soldout.store.rows_board import BoardChange, BoardMark, BoardPut, BoardUnmark

__all__ = ["Board"]

log = logging.getLogger(__name__)


class Board:
    def __init__(
        self, store: Store, clock: Clock, state: BoardState, policy: PostingPolicy | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self.state = state
        self.policy = policy or PostingPolicy()

    async def load(self) -> None:
        self.state.load(await self._store.board.load())

    async def write(self, changes: Sequence[BoardChange]) -> None:
        """Write `changes` in one transaction, then hold the records they wrote."""
        await self._store.board.write(changes)
        for change in changes:
            if isinstance(change, BoardPut):
                self.state.adopt(change.record)

    # -- fans ---------------------------------------------------------------------------
    async def may_post(self, fan_id: str) -> None:
        """Refuse a barred fan, and a fan over their posts an hour (fewer while new)."""
        bar = self.state.barred(fan_id)
        if bar is not None:
            raise Forbidden("you may not post on the boards: " + bar.reason).with_code("barred")
        fan = await self._store.fans.get(fan_id)
        if fan is None or fan.erased_at is not None:
            raise NotFound("fan")
        now = self._clock.now()
        allowed = posting_allowance(now - fan.created_at, self.policy)
        times = [t for t in self.state.posted.get(fan_id, []) if (now - t).total_seconds() < 3600]
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
        await self.may_post(fan_id)
        self.state.votes[idea.id][fan_id] = idea.created_at  # the author's own vote
        await self.write([BoardPut(idea, idea.created_at), self._mark(idea.id, fan_id)])
        return idea

    def _mark(self, subject: str, fan_id: str, value: str = "") -> BoardMark:
        return BoardMark(subject, fan_id, value, self._clock.now())

    async def vote(self, fan_id: str, idea_id: str) -> bool:
        """Vote for an idea: True if this call cast the vote, False if it was cast before."""
        idea = self.state.idea(idea_id)
        if idea.status in CLOSED:
            raise self._closed(idea)
        cast = self.state.votes[idea_id]
        if fan_id in cast:
            return False
        mark = self._mark(idea_id, fan_id)
        cast[fan_id] = mark.at  # decided here, before any await: one vote per fan
        try:
            await self._store.board.write([mark])
        except BaseException:
            if cast.get(fan_id) == mark.at:
                del cast[fan_id]
            raise
        return True

    async def unvote(self, fan_id: str, idea_id: str) -> bool:
        """Take a vote back: True if there was one."""
        idea = self.state.idea(idea_id)
        cast = self.state.votes[idea_id]
        if fan_id not in cast:
            return False
        if idea.status in CLOSED:
            raise self._closed(idea)
        at = cast.pop(fan_id)
        try:
            await self._store.board.write([BoardUnmark(idea_id, fan_id)])
        except BaseException:
            cast.setdefault(fan_id, at)
            raise
        return True

    @staticmethod
    def _closed(idea: Idea) -> DomainError:
        where = f" into {idea.merged_into}" if idea.merged_into else ""
        closed = Conflict(f"this idea is {idea.status.value}{where}: votes are closed")
        return closed.with_code("idea_closed")

    async def comment(self, fan_id: str | None, idea_id: str, text: object) -> Comment:
        """A fan's comment, or (without a fan) the maker's official answer."""
        idea = self.state.idea(idea_id, maker=fan_id is None)
        body = check_text(text, field="text", limit=MAX_COMMENT, lines=True)
        if fan_id is not None:
            await self.may_post(fan_id)
        comment = Comment(new_id("cmt"), idea.id, fan_id, body, self._clock.now())
        await self.write([BoardPut(comment, comment.created_at)])
        return comment

    async def report(self, fan_id: str, subject_id: str, reason: object) -> Report:
        """Report an idea or a comment to the maker (once per fan and post)."""
        product_id = self.state.product_of(subject_id)
        why = check_text(reason, field="reason", limit=MAX_REASON)
        for old in self.state.reports.values():
            if old.subject_id == subject_id and old.fan_id == fan_id and not old.resolved:
                return old
        report = Report(new_id("rpt"), subject_id, product_id, fan_id, why, self._clock.now())
        await self.write([BoardPut(report, report.created_at)])
        return report

    # -- the maker ----------------------------------------------------------------------
    async def move(self, idea_id: str, status: str, reason: object = "") -> Idea:
        idea = self.state.idea(idea_id, maker=True)
        why = check_text(reason or "", field="reason", limit=MAX_REASON, required=False)
        target = check_move(idea, status, why)
        moved = replace(idea, status=target, reason=why)
        await self.write([BoardPut(moved, self._clock.now())])
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
        now = self._clock.now()
        moved = self.state.votes.pop(dup.id, {})
        target = self.state.votes[into.id]
        changes: list[BoardChange] = []
        for fan_id, at in moved.items():
            changes.append(BoardUnmark(dup.id, fan_id))
            if fan_id not in target:
                target[fan_id] = at
                changes.append(BoardMark(into.id, fan_id, "", at))
        merged = replace(dup, status=IdeaStatus.MERGED, merged_into=into.id)
        changes.append(BoardPut(merged, now))
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

    async def hide(self, subject_id: str, hidden: bool) -> Idea | Comment:
        """Hide (or show again) an idea or a comment; its open reports are resolved."""
        subject: Idea | Comment
        if subject_id in self.state.comments:
            subject = replace(self.state.comment(subject_id), hidden=hidden)
        else:
            subject = replace(self.state.idea(subject_id, maker=True), hidden=hidden)
        now = self._clock.now()
        changes: list[BoardChange] = [BoardPut(subject, now)]
        for report in self.state.reports.values():
            if report.subject_id == subject_id and not report.resolved:
                changes.append(BoardPut(replace(report, resolved=True), now))
        await self.write(changes)
        return subject

    async def dismiss(self, report_id: str) -> Report:
        """Keep the post: the report is resolved."""
        report = self.state.reports.get(report_id)
        if report is None:
            raise NotFound("report")
        done = replace(report, resolved=True)
        await self.write([BoardPut(done, self._clock.now())])
        return done

    async def bar(self, fan_id: str, barred: bool, reason: object) -> Bar:
        if await self._store.fans.get(fan_id) is None:
            raise NotFound("fan")
        why = check_text(reason or "", field="reason", limit=MAX_REASON, required=barred)
        bar = Bar(fan_id, why, self._clock.now(), barred)
        await self.write([BoardPut(bar, bar.at)])
        return bar

    def now(self) -> datetime:
        return self._clock.now()
