"""Taking part counts: points a fan earns on the ideas board, beside referral points.

Pure rules, no I/O. Points come from what others found worth it, never from posting alone:
votes other fans give your ideas (up to a cap per idea, so one viral post does not make a
veteran), your ideas the maker shipped, and your comments the maker marked useful. Hidden
posts earn nothing, nor a vote for your own idea.

    contribution_points(ideas, votes, comments)  # -> Counter {fan id: points}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.board import Comment, Idea, IdeaStatus

__all__ = ["ContributionPolicy", "Reward", "contribution_points"]


@dataclass(frozen=True, slots=True)
class Reward:
    """A priority code the maker gave a top contributor of a product for one launch (at
    most one per fan and launch)."""

    id: str
    product_id: str
    launch_id: str
    fan_id: str
    code: str
    points: int  # the fan's points when it was given
    at: datetime


@dataclass(frozen=True, slots=True)
class ContributionPolicy:
    per_vote: int = 1  # per other fan's vote for an idea you posted
    votes_cap: int = 50  # at most this many votes count, per idea
    per_shipped: int = 20  # per idea of yours shipped in a release
    per_useful: int = 5  # per comment of yours the maker marked useful


def contribution_points(
    ideas: Iterable[Idea],
    votes: Mapping[str, Mapping[str, datetime]],
    comments: Iterable[Comment],
    policy: ContributionPolicy = ContributionPolicy(),
) -> Counter[str]:
    """Points per fan from `ideas` (with `votes`: idea id -> {fan: when}) and `comments`."""
    points: Counter[str] = Counter()
    for idea in ideas:
        if idea.hidden:
            continue
        others = sum(1 for fan in votes.get(idea.id, {}) if fan != idea.fan_id)
        earned = policy.per_vote * min(others, policy.votes_cap)
        if idea.status is IdeaStatus.SHIPPED:
            earned += policy.per_shipped
        if earned:
            points[idea.fan_id] += earned
    for comment in comments:
        if comment.useful and not comment.hidden and comment.fan_id is not None:
            points[comment.fan_id] += policy.per_useful
    return points
