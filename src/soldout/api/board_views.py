"""The ideas board as JSON, and what its routes accept: shared by the fans' routes
(`routes_board.py`) and the maker's (`routes_board_admin.py`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, StrictBool, StrictInt

from soldout.api.schemas import _In
from soldout.domain.board import Comment, Idea, Release, hot
from soldout.domain.polls import OptionTally, Poll
from soldout.services.board_state import BoardState
from soldout.store.ports import Store

__all__ = [
    "AnswerIn",
    "BarIn",
    "CommentIn",
    "HiddenIn",
    "IdeaIn",
    "MergeIn",
    "MoveIn",
    "OptionIn",
    "PollIn",
    "PollPatch",
    "ReleaseIn",
    "ReportIn",
    "RewardIn",
    "UsefulIn",
    "author_names",
    "comment_view",
    "display_name",
    "idea_view",
    "poll_view",
    "release_view",
]


class IdeaIn(_In):
    kind: Literal["idea", "problem"] = "idea"
    title: str = Field(max_length=140, examples=["A 128 GB model"])
    text: str = Field("", max_length=10_000, description="Markdown (shown safely)")
    category: str = Field("", max_length=40, examples=["storage"])


class CommentIn(_In):
    text: str = Field(max_length=5_000)


class ReportIn(_In):
    subject_id: str = Field(max_length=64, description="an idea's or a comment's id")
    reason: str = Field(max_length=1_000)


class AnswerIn(_In):
    option: str = Field(max_length=8, description="the key of the option chosen")


class MoveIn(_In):
    status: Literal["open", "under_review", "planned", "in_progress", "declined"]
    reason: str = Field("", max_length=1_000, description="required to decline")


class MergeIn(_In):
    into: str = Field(max_length=64, description="the idea the duplicate goes into")


class UsefulIn(_In):
    useful: StrictBool


class HiddenIn(_In):
    hidden: StrictBool


class BarIn(_In):
    barred: StrictBool
    reason: str = Field("", max_length=1_000, description="required to bar")


class ReleaseIn(_In):
    title: str = Field(max_length=140, examples=["firmware 1.4"])
    notes: str = Field("", max_length=10_000, description="Markdown")
    ideas: list[str] = Field(default_factory=list, max_length=200)


class OptionIn(_In):
    label: str = Field(max_length=100)
    sku: str | None = Field(None, max_length=64)


class PollIn(_In):
    question: str = Field(max_length=140, examples=["Which colour for batch 3?"])
    options: list[OptionIn] = Field(min_length=2, max_length=12)
    closes_at: AwareDatetime | None = None


class PollPatch(_In):
    closed: StrictBool | None = None
    hidden: StrictBool | None = None


class RewardIn(_In):
    launch_id: str = Field(max_length=64)
    top: StrictInt = Field(10, ge=1, le=1000, description="how many top contributors")


def display_name(name: str | None) -> str:
    """How a fan is shown on a public board: the first name and an initial ("Ann V.").
    A name written without spaces in Chinese, Japanese or Korean is the whole name, family
    name first: only that first character is shown, and a fixed mask, which does not tell
    the name's length ("李*" for 李小龙)."""
    if not name:
        return "a fan"
    parts = name.split()
    if len(parts) > 1:
        return f"{parts[0]} {parts[-1][0]}."
    if len(name) > 1 and _UNSPACED.search(name):
        return name[0] + "*"
    return name


# Hangul Jamo, CJK punctuation to Katakana, CJK ideographs (extension A, the main block,
# compatibility), Hangul syllables, half-width Katakana, and the ideographs of planes 2-3
_UNSPACED = re.compile(
    "[\u1100-\u11ff\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff]"
)


async def author_names(store: Store, fan_ids: Iterable[str | None]) -> dict[str, str]:
    names: dict[str, str] = {}
    for fan_id in {f for f in fan_ids if f is not None}:
        fan = await store.fans.get(fan_id)
        names[fan_id] = display_name(fan.name if fan and fan.erased_at is None else None)
    return names


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def idea_view(
    idea: Idea, state: BoardState, now: datetime, names: dict[str, str], fan_id: str | None = None
) -> dict[str, Any]:
    cast = state.votes.get(idea.id, {})
    return {
        "id": idea.id,
        "product_id": idea.product_id,
        "kind": idea.kind.value,
        "title": idea.title,
        "text": idea.text,
        "category": idea.category,
        "status": idea.status.value,
        "reason": idea.reason,
        "release_id": idea.release_id,
        "merged_into": idea.merged_into,
        "hidden": idea.hidden,
        "author": names.get(idea.fan_id, "a fan"),
        "created_at": idea.created_at.isoformat(),
        "votes": len(cast),
        "hot": round(hot(cast.values(), now), 3),
        "voted": fan_id in cast if fan_id is not None else None,
        "comments": len(state.comments_on(idea.id)),
    }


def comment_view(comment: Comment, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": comment.id,
        "idea_id": comment.idea_id,
        "official": comment.official,
        "author": "the maker" if comment.fan_id is None else names.get(comment.fan_id, "a fan"),
        "text": comment.text,
        "useful": comment.useful,
        "hidden": comment.hidden,
        "created_at": comment.created_at.isoformat(),
    }


def release_view(release: Release, state: BoardState) -> dict[str, Any]:
    ideas = [state.ideas[i] for i in release.idea_ids if i in state.ideas]
    return {
        "id": release.id,
        "product_id": release.product_id,
        "title": release.title,
        "notes": release.notes,
        "published_at": release.published_at.isoformat(),
        "ideas": [
            {"id": i.id, "title": i.title, "votes": len(state.votes.get(i.id, {}))}
            for i in ideas
            if not i.hidden
        ],
    }


def poll_view(
    poll: Poll, results: list[OptionTally], now: datetime, answer: str | None = None
) -> dict[str, Any]:
    return {
        "id": poll.id,
        "product_id": poll.product_id,
        "question": poll.question,
        "open": poll.is_open(now),
        "closes_at": _iso(poll.closes_at),
        "created_at": poll.created_at.isoformat(),
        "answers": sum(t.answers for t in results),
        "options": [
            {
                "key": t.option.key,
                "label": t.option.label,
                "sku": t.option.sku,
                "answers": t.answers,
                "buyers": t.buyers,
            }
            for t in results
        ],
        "your_answer": answer,
    }
