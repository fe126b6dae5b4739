"""Moderation of the ideas boards: fans report posts; the maker hides posts (and shows
them again), dismisses reports and bars fans from posting. The routes write each action to
the audit log."""

from __future__ import annotations

from dataclasses import replace

from soldout.domain.board import MAX_REASON, Comment, Idea
from soldout.domain.errors import NotFound
from soldout.domain.moderation import Bar, Report
from soldout.domain.text import check_text
from soldout.ids import new_id
from soldout.services.board import Board
from soldout.store.rows_board import BoardChange, BoardPut

__all__ = ["Moderation"]


class Moderation:
    def __init__(self, board: Board) -> None:
        self._board = board
        self.state = board.state

    async def report(self, fan_id: str, subject_id: str, reason: object) -> Report:
        """Report an idea or a comment to the maker (once per fan and post); only what the
        fan can see may be reported."""
        product_id = self.visible_subject(subject_id).product_id
        self._board.require_public(product_id)
        why = check_text(reason, field="reason", limit=MAX_REASON)
        for old in self.state.reports.values():
            if old.subject_id == subject_id and old.fan_id == fan_id and not old.resolved:
                return old
        report = Report(new_id("rpt"), subject_id, product_id, fan_id, why, self._board.now())
        await self._board.write([BoardPut(report, report.created_at)])
        return report

    def visible_subject(self, subject_id: str) -> Idea:
        """The idea a post a fan can see belongs to: the idea itself, or a comment's idea
        (NotFound for a hidden one, as for one that does not exist)."""
        comment = self.state.comments.get(subject_id)
        if comment is not None:
            if comment.hidden:
                raise NotFound("comment")
            return self.state.idea(comment.idea_id)
        return self.state.idea(subject_id)

    async def hide(self, subject_id: str, hidden: bool) -> Idea | Comment:
        """Hide (or show again) an idea or a comment; its open reports are resolved."""
        subject: Idea | Comment
        if subject_id in self.state.comments or subject_id.startswith("cmt_"):
            subject = replace(self.state.comment(subject_id), hidden=hidden)  # (or not found)
        else:
            subject = replace(self.state.idea(subject_id, maker=True), hidden=hidden)
        now = self._board.now()
        changes: list[BoardChange] = [BoardPut(subject, now)]
        for report in self.state.reports.values():
            if report.subject_id == subject_id and not report.resolved:
                changes.append(BoardPut(replace(report, resolved=True), now))
        await self._board.write(changes)
        return subject

    async def dismiss(self, report_id: str) -> Report:
        """Keep the post: the report is resolved."""
        report = self.state.reports.get(report_id)
        if report is None:
            raise NotFound("report")
        done = replace(report, resolved=True)
        await self._board.write([BoardPut(done, self._board.now())])
        return done

    async def bar(self, fan_id: str, barred: bool, reason: object) -> Bar:
        await self._board.fan(fan_id)  # (NotFound for no such fan)
        why = check_text(reason or "", field="reason", limit=MAX_REASON, required=barred)
        bar = Bar(fan_id, why, self._board.now(), barred)
        await self._board.write([BoardPut(bar, bar.at)])
        return bar
