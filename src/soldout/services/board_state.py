"""The ideas board held in memory: every record by id, the votes and poll answers by fan,
and the reads the pages and the API make. Loaded whole at start from the store
(`store/rows_board.py`) and changed only by `Board` and `Releases`, which write through.

A board is small beside a sale (ideas and votes, not units and claims): it is read far more
often than written, and every sort and search runs over one product's ideas in memory."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from soldout.domain.board import Comment, Idea, IdeaStatus, Release, matches, ranked
from soldout.domain.contribution import ContributionPolicy, Reward, contribution_points
from soldout.domain.errors import InvalidInput, NotFound
from soldout.domain.moderation import Bar, Report
from soldout.domain.polls import Poll
from soldout.store.rows_board import BoardMark, BoardRecord, BoardRecords

__all__ = ["FRESH", "BoardState", "IdeaQuery"]

_Kept = tuple[int, dict[str, int]]  # (the board's version, the points worked out for it)

FRESH = "new"
"""A vote's mark when its fan's account was new: it counts, but earns its idea's author no
points (accounts made by the dozen could otherwise vote someone to a priority code)."""

MAX_PAGE = 100


class IdeaQuery:
    """What a board's list asks for: a sort, filters, a search, a page."""

    def __init__(
        self,
        sort: str = "hot",
        status: str | None = None,
        category: str | None = None,
        q: str = "",
        limit: int = 20,
        offset: int = 0,
    ) -> None:
        if status is not None and (
            status not in IdeaStatus.__members__.values() or status == IdeaStatus.MERGED
        ):
            names = ", ".join(s.value for s in IdeaStatus if s is not IdeaStatus.MERGED)
            raise InvalidInput(f"status must be one of: {names}", field="status")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
        if offset < 0:
            raise InvalidInput("offset must be 0 or more", field="offset")
        self.sort, self.status, self.category = sort, status, category
        self.words = q.split()[:10]
        self.limit, self.offset = limit, offset


class BoardState:
    def __init__(self) -> None:
        self.ideas: dict[str, Idea] = {}
        self.comments: dict[str, Comment] = {}
        self.comments_of: dict[str, list[str]] = defaultdict(list)
        self.votes: dict[str, dict[str, datetime]] = defaultdict(dict)  # idea -> fan -> when
        self.releases: dict[str, Release] = {}
        self.polls: dict[str, Poll] = {}
        self.answers: dict[str, dict[str, str]] = defaultdict(dict)  # poll -> fan -> option
        self.reports: dict[str, Report] = {}
        self.bars: dict[str, Bar] = {}
        self.rewards: dict[str, Reward] = {}
        self.posted: dict[str, list[datetime]] = defaultdict(list)  # fan -> post times
        self.fresh: set[tuple[str, str]] = set()  # (idea, fan): votes of new accounts
        self.version = 0  # one more at every change (what `points` keeps is for one version)
        self._points: dict[
            tuple[str | None, ContributionPolicy | None], tuple[int, dict[str, int]]
        ] = {}

    # -- loading and changing -----------------------------------------------------------
    def load(self, records: BoardRecords) -> None:
        for record in records.records:
            self.adopt(record)
        for mark in records.marks:
            self.adopt_mark(mark)
        for thread in self.comments_of.values():  # (rows come back by when last written)
            thread.sort(key=lambda c: (self.comments[c].created_at, c))

    def adopt(self, record: BoardRecord) -> None:
        """Hold `record` (new, or its new state)."""
        self.version += 1
        if isinstance(record, Idea):
            if record.id not in self.ideas:
                self.posted[record.fan_id].append(record.created_at)
            self.ideas[record.id] = record
        elif isinstance(record, Comment):
            if record.id not in self.comments:
                self.comments_of[record.idea_id].append(record.id)
                if record.fan_id is not None:
                    self.posted[record.fan_id].append(record.created_at)
            self.comments[record.id] = record
        elif isinstance(record, Release):
            self.releases[record.id] = record
        elif isinstance(record, Poll):
            self.polls[record.id] = record
        elif isinstance(record, Report):
            self.reports[record.id] = record
        elif isinstance(record, Reward):
            self.rewards[record.id] = record
        else:
            self.bars[record.fan_id] = record

    def adopt_mark(self, mark: BoardMark) -> None:
        self.version += 1
        if mark.subject in self.polls:
            self.answers[mark.subject][mark.fan_id] = mark.value
            return
        self.votes[mark.subject][mark.fan_id] = mark.at
        if mark.value == FRESH:
            self.fresh.add((mark.subject, mark.fan_id))
        else:
            self.fresh.discard((mark.subject, mark.fan_id))

    def drop_mark(self, subject: str, fan_id: str) -> None:
        self.version += 1
        if subject in self.polls:
            self.answers[subject].pop(fan_id, None)
            return
        self.votes[subject].pop(fan_id, None)
        self.fresh.discard((subject, fan_id))

    def forget(self, record: BoardRecord) -> None:
        """Let go of a record `adopt` had just taken for the first time (its write failed)."""
        self.version += 1
        if isinstance(record, Idea):
            self.ideas.pop(record.id, None)
            self._unpost(record.fan_id, record.created_at)
        elif isinstance(record, Comment):
            self.comments.pop(record.id, None)
            self.comments_of[record.idea_id].remove(record.id)
            if record.fan_id is not None:
                self._unpost(record.fan_id, record.created_at)
        else:
            self._table(record).pop(_key(record), None)

    def _unpost(self, fan_id: str, at: datetime) -> None:
        times = self.posted.get(fan_id, [])
        if at in times:
            times.remove(at)

    def _table(self, record: BoardRecord) -> dict[str, Any]:
        tables: dict[type, dict[str, Any]] = {
            Idea: self.ideas,
            Comment: self.comments,
            Release: self.releases,
            Poll: self.polls,
            Report: self.reports,
            Reward: self.rewards,
            Bar: self.bars,
        }
        return tables[type(record)]

    def held(self, record: BoardRecord) -> BoardRecord | None:
        """The state of `record` held now (None if it is new)."""
        found: BoardRecord | None = self._table(record).get(_key(record))
        return found

    # -- reads --------------------------------------------------------------------------
    def idea(self, idea_id: str, *, maker: bool = False) -> Idea:
        idea = self.ideas.get(idea_id)
        if idea is None or (idea.hidden and not maker):
            raise NotFound("idea")
        return idea

    def comment(self, comment_id: str) -> Comment:
        comment = self.comments.get(comment_id)
        if comment is None:
            raise NotFound("comment")
        return comment

    def poll(self, poll_id: str, *, maker: bool = False) -> Poll:
        poll = self.polls.get(poll_id)
        if poll is None or (poll.hidden and not maker):
            raise NotFound("poll")
        return poll

    def release(self, release_id: str) -> Release:
        release = self.releases.get(release_id)
        if release is None:
            raise NotFound("release")
        return release

    def list_ideas(
        self, product_id: str, query: IdeaQuery, now: datetime, *, maker: bool = False
    ) -> tuple[int, list[Idea]]:
        """How many ideas match, and the page asked for. Merged ideas are left out (their
        votes are on the idea they were merged into); hidden ones unless for the maker."""
        found = [
            i
            for i in self.ideas.values()
            if i.product_id == product_id
            and i.status is not IdeaStatus.MERGED
            and (maker or not i.hidden)
            and (query.status is None or i.status == query.status)
            and (query.category is None or i.category == query.category.casefold())
            and matches(i, query.words)
        ]
        ordered = ranked(found, self.votes, query.sort, now)
        return len(found), ordered[query.offset : query.offset + query.limit]

    def categories(self, product_id: str) -> list[str]:
        return sorted(
            {
                i.category
                for i in self.ideas.values()
                if i.product_id == product_id and not i.hidden and i.status is not IdeaStatus.MERGED
            }
        )

    def comments_on(self, idea_id: str, *, maker: bool = False) -> list[Comment]:
        shown = (self.comments[c] for c in self.comments_of.get(idea_id, ()))
        return [c for c in shown if maker or not c.hidden]

    def releases_of(self, product_id: str) -> list[Release]:
        """Newest first."""
        found = [r for r in self.releases.values() if r.product_id == product_id]
        return sorted(found, key=lambda r: (r.published_at, r.id), reverse=True)

    def polls_of(self, product_id: str, *, maker: bool = False) -> list[Poll]:
        """Newest first."""
        found = [
            p for p in self.polls.values() if p.product_id == product_id and (maker or not p.hidden)
        ]
        return sorted(found, key=lambda p: (p.created_at, p.id), reverse=True)

    def open_reports(self, product_id: str) -> list[Report]:
        return [r for r in self.reports.values() if r.product_id == product_id and not r.resolved]

    def barred(self, fan_id: str) -> Bar | None:
        bar = self.bars.get(fan_id)
        return bar if bar is not None and bar.barred else None

    def posts_since(self, fan_id: str, since: datetime) -> int:
        times = self.posted.get(fan_id, [])
        return sum(1 for at in times if at >= since)

    def points(
        self, product_id: str | None = None, policy: ContributionPolicy | None = None
    ) -> dict[str, int]:
        """Contribution points per fan, on one product's board or on all of them: worked
        out once per change of the board (a fan's standing reads them on every page)."""
        key = (product_id, policy)
        kept = self._points.get(key)
        if kept is not None and kept[0] == self.version:
            return kept[1]
        found = self._count_points(product_id, policy or ContributionPolicy())
        self._points[key] = (self.version, found)
        return found

    def _count_points(self, product_id: str | None, policy: ContributionPolicy) -> dict[str, int]:
        ideas = [i for i in self.ideas.values() if product_id in (None, i.product_id)]
        ids = {i.id for i in ideas}
        comments = [c for c in self.comments.values() if c.idea_id in ids]
        counted = {
            idea: {fan: at for fan, at in cast.items() if (idea, fan) not in self.fresh}
            for idea, cast in self.votes.items()
            if idea in ids
        }
        return dict(contribution_points(ideas, counted, comments, policy))


def _key(record: BoardRecord) -> str:
    return record.fan_id if isinstance(record, Bar) else record.id
