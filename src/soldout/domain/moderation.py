"""Moderation of the ideas board: reports by fans, hidden posts, fans barred from posting,
and how fast a new account may post.

Pure rules, no I/O. The maker hides a post (shown to no one but the maker) and bars a fan
from posting; each action goes to the audit log (the service writes it).

    posting_allowance(account_age, policy)  # posts an hour this fan may make
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Bar", "PostingPolicy", "Report", "posting_allowance"]


@dataclass(frozen=True, slots=True)
class Report:
    id: str
    subject_id: str  # an idea's or a comment's id
    product_id: str
    fan_id: str  # who reported it
    reason: str
    created_at: datetime
    resolved: bool = False  # the maker dealt with it (hid the post or kept it)


@dataclass(frozen=True, slots=True)
class Bar:
    fan_id: str
    reason: str
    at: datetime
    barred: bool = True  # False once lifted (kept: the record of what happened)


@dataclass(frozen=True, slots=True)
class PostingPolicy:
    """Ideas and comments a fan may post per hour: fewer while the account is new, so a
    burst of fresh accounts cannot flood a board."""

    new_account: timedelta = timedelta(days=1)
    per_hour_new: int = 3
    per_hour: int = 30


def posting_allowance(account_age: timedelta, policy: PostingPolicy = PostingPolicy()) -> int:
    """How many posts an hour an account of `account_age` may make."""
    return policy.per_hour_new if account_age < policy.new_account else policy.per_hour
