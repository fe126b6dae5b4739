"""A product's ideas board: what fans ask for, how it is ranked, and where the maker takes it.

Pure rules, no I/O. A fan posts an `Idea` (an idea or a problem report) and votes once for
it and for others' (the author's own vote comes with the post); the maker answers, moves it
through `IdeaStatus`, ships it in a `Release`, or merges a duplicate into another.

    hot(vote_times, now)  # votes, each worth half as much every HALF_LIFE
    ranked(ideas, votes, "hot", now)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from soldout.domain.errors import Conflict, InvalidInput
from soldout.domain.text import check_text

__all__ = [
    "HALF_LIFE",
    "SORTS",
    "Comment",
    "Idea",
    "IdeaKind",
    "IdeaStatus",
    "Release",
    "check_category",
    "check_move",
    "hot",
    "matches",
    "ranked",
    "voters",
]

HALF_LIFE = timedelta(days=7)
"""A vote's weight in the hot sort halves every week: what fans want now rises."""

SORTS = ("hot", "top", "new")
MAX_TITLE, MAX_TEXT, MAX_COMMENT, MAX_REASON = 140, 10_000, 5_000, 1_000


class IdeaKind(StrEnum):
    IDEA = "idea"
    PROBLEM = "problem"  # a problem report


class IdeaStatus(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    SHIPPED = "shipped"  # in a release (`Idea.release_id`)
    DECLINED = "declined"  # with the maker's reason
    MERGED = "merged"  # a duplicate: its votes moved to `Idea.merged_into`


_MOVES_BY_HAND = {
    IdeaStatus.OPEN,
    IdeaStatus.UNDER_REVIEW,
    IdeaStatus.PLANNED,
    IdeaStatus.IN_PROGRESS,
    IdeaStatus.DECLINED,
}
CLOSED = frozenset({IdeaStatus.SHIPPED, IdeaStatus.DECLINED, IdeaStatus.MERGED})


@dataclass(frozen=True, slots=True)
class Idea:
    id: str
    product_id: str
    fan_id: str
    kind: IdeaKind
    title: str
    text: str  # Markdown, rendered safely where shown
    category: str
    created_at: datetime
    status: IdeaStatus = IdeaStatus.OPEN
    reason: str = ""  # why it was declined (or what the maker said with the move)
    release_id: str | None = None
    merged_into: str | None = None
    hidden: bool = False  # by a moderator: shown to no one but the maker


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    idea_id: str
    fan_id: str | None  # None: the maker's official answer
    text: str
    created_at: datetime
    useful: bool = False  # marked by the maker: earns its author points
    hidden: bool = False

    @property
    def official(self) -> bool:
        return self.fan_id is None


@dataclass(frozen=True, slots=True)
class Release:
    id: str
    product_id: str
    title: str  # "firmware 1.4", "batch 3 changes"
    notes: str  # Markdown
    idea_ids: tuple[str, ...]
    published_at: datetime


def check_category(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "general"
    return check_text(value, field="category", limit=40).casefold()


def check_move(idea: Idea, status: str, reason: str) -> IdeaStatus:
    """The status the maker may move `idea` to by hand (shipping goes through a release,
    merging through a merge); a decline needs its reason."""
    try:
        target = IdeaStatus(status)
    except ValueError:
        names = ", ".join(sorted(s.value for s in _MOVES_BY_HAND))
        raise InvalidInput(f"status must be one of: {names}", field="status") from None
    if target not in _MOVES_BY_HAND:
        how = "publish a release that lists it" if target is IdeaStatus.SHIPPED else "merge it"
        raise InvalidInput(f"to mark an idea {target.value}, {how}", field="status")
    if idea.status in (IdeaStatus.SHIPPED, IdeaStatus.MERGED):
        raise Conflict(f"this idea is {idea.status.value}: its status is final")
    if target is IdeaStatus.DECLINED and not reason.strip():
        raise InvalidInput("say why the idea is declined", field="reason")
    return target


def hot(vote_times: Iterable[datetime], now: datetime, half_life: timedelta = HALF_LIFE) -> float:
    """Votes with time decay: each vote weighs 1 when cast and half as much every
    `half_life` after (a vote from the future, a clock's skew, weighs 1)."""
    span = half_life.total_seconds()
    return sum(math.pow(0.5, max(0.0, (now - at).total_seconds()) / span) for at in vote_times)


def matches(idea: Idea, words: Sequence[str]) -> bool:
    """Every word of the search appears in the title or the text (case and accents of
    letters as typed are folded: "colour" finds "Colour")."""
    haystack = f"{idea.title}\n{idea.text}".casefold()
    return all(word.casefold() in haystack for word in words)


def ranked(
    ideas: Iterable[Idea],
    votes: Mapping[str, Mapping[str, datetime]],
    sort: str,
    now: datetime,
) -> list[Idea]:
    """`ideas` in the board's order: `hot` (decayed votes), `top` (votes), `new` (newest);
    ties go to the newer idea, then the id, so the order never wobbles between calls.
    `votes` is idea id -> {fan id -> when they voted}."""
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of: {', '.join(SORTS)}", field="sort")
    empty: Mapping[str, datetime] = {}

    def key(idea: Idea) -> tuple[float, float, str]:
        cast = votes.get(idea.id, empty)
        if sort == "hot":
            score = hot(cast.values(), now)
        elif sort == "top":
            score = float(len(cast))
        else:
            score = 0.0
        return (-score, -idea.created_at.timestamp(), idea.id)

    return sorted(ideas, key=key)


def voters(votes: Mapping[str, Mapping[str, datetime]], idea_ids: Collection[str]) -> set[str]:
    """Every fan who voted for any of `idea_ids`, each once."""
    return {fan for idea_id in idea_ids for fan in votes.get(idea_id, {})}
