"""The ideas board's records <-> rows, the same for every adapter.

The board is served from memory (`services/board.py` loads it whole at start) and nothing
queries inside its records, so each record is one JSON document in `board_docs` (id, kind,
product, the record, when last written). What must be exactly once is a row of its own in
`board_marks` with the primary key (subject, fan): a fan's vote for an idea (value ""),
a fan's answer to a poll (value: the option's key). A change of the board is a sequence of
`BoardChange`s written in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

from soldout.domain.board import Comment, Idea, IdeaKind, IdeaStatus, Release
from soldout.domain.contribution import Reward
from soldout.domain.moderation import Bar, Report
from soldout.domain.polls import Poll, PollOption
from soldout.store.rows import req, ts

__all__ = [
    "LOAD_DOCS",
    "LOAD_MARKS",
    "MARK_SQL",
    "PUT_SQL",
    "UNMARK_SQL",
    "BoardChange",
    "BoardMark",
    "BoardPut",
    "BoardRecord",
    "BoardRecords",
    "BoardUnmark",
    "mark_of",
    "record_of",
]

BoardRecord = Idea | Comment | Release | Poll | Report | Bar | Reward

PUT_SQL = (
    "INSERT INTO board_docs (id, kind, product_id, body, at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET body = excluded.body, at = excluded.at"
)
MARK_SQL = (
    "INSERT INTO board_marks (subject, fan_id, value, at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (subject, fan_id) DO UPDATE SET value = excluded.value, at = excluded.at"
)
UNMARK_SQL = "DELETE FROM board_marks WHERE subject = ? AND fan_id = ?"
LOAD_DOCS = "SELECT kind, body FROM board_docs ORDER BY at, id"
LOAD_MARKS = "SELECT subject, fan_id, value, at FROM board_marks ORDER BY at, subject, fan_id"


@dataclass(frozen=True, slots=True)
class BoardPut:
    """Write a record (a new one, or its new state)."""

    record: BoardRecord
    at: datetime

    @property
    def key(self) -> str:
        """The record's row id (a bar's is the fan's, prefixed: one bar per fan)."""
        key: str = _KEYS[type(self.record)](self.record)[1]
        return key

    def params(self) -> tuple[object, ...]:
        kind, key, product = _KEYS[type(self.record)](self.record)
        return (key, kind, product, _json(self.record), ts(self.at))


@dataclass(frozen=True, slots=True)
class BoardMark:
    """A fan's vote (value "") or poll answer (the option's key), new or changed."""

    subject: str
    fan_id: str
    value: str
    at: datetime

    def params(self) -> tuple[object, ...]:
        return (self.subject, self.fan_id, self.value, ts(self.at))


@dataclass(frozen=True, slots=True)
class BoardUnmark:
    """A vote taken back (or moved away by a merge)."""

    subject: str
    fan_id: str

    def params(self) -> tuple[object, ...]:
        return (self.subject, self.fan_id)


BoardChange = BoardPut | BoardMark | BoardUnmark


@dataclass(frozen=True, slots=True)
class BoardRecords:
    records: list[BoardRecord]
    marks: list[BoardMark]


_KEYS: dict[type, Any] = {
    Idea: lambda r: ("idea", r.id, r.product_id),
    Comment: lambda r: ("comment", r.id, ""),
    Release: lambda r: ("release", r.id, r.product_id),
    Poll: lambda r: ("poll", r.id, r.product_id),
    Report: lambda r: ("report", r.id, r.product_id),
    Bar: lambda r: ("bar", f"bar:{r.fan_id}", ""),
    Reward: lambda r: ("reward", r.id, r.product_id),
}
_TYPES: dict[str, type] = {"idea": Idea, "comment": Comment, "release": Release}
_TYPES |= {"poll": Poll, "report": Report, "bar": Bar, "reward": Reward}


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PollOption):
        return {"key": value.key, "label": value.label, "sku": value.sku}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _json(record: BoardRecord) -> str:
    return json.dumps({f.name: _plain(getattr(record, f.name)) for f in fields(record)})


def record_of(kind: str, body: str) -> BoardRecord:
    """The record a row holds (fields this version no longer knows are dropped)."""
    cls = _TYPES[kind]
    raw = json.loads(body)
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
    for name in ("created_at", "published_at", "at", "closes_at"):
        if values.get(name) is not None and name in known:
            values[name] = req(values[name])
    if cls is Idea:
        values["kind"] = IdeaKind(values["kind"])
        values["status"] = IdeaStatus(values["status"])
    if cls is Release:
        values["idea_ids"] = tuple(values["idea_ids"])
    if cls is Poll:
        values["options"] = tuple(PollOption(**o) for o in values["options"])
    record: BoardRecord = cls(**values)
    return record


def mark_of(row: Any) -> BoardMark:
    return BoardMark(row["subject"], row["fan_id"], row["value"], req(row["at"]))
