"""The rehearsal's client log: JSON Lines, one request per line.

    log = read_client_log(Path("rehearsal.jsonl"))
    log.requests  # the lines that make sense; log.skipped says which did not, and why

A line needs `t_start`: seconds since the sale opened (as `soldout rehearse` writes it)
or epoch seconds (any value from 1973 on); `since_opening` puts both on the first scale.
`t_end`, `kind`, `status` (0 or absent: no answer), `code`, `actor`, `fan` (or `fan_id`)
and `latency_ms` are read when present; `latency_ms` defaults to `t_end - t_start`. Other
fields are ignored, so the log can grow without breaking reports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from soldout.reports.records import ClientRequest

__all__ = [
    "EPOCH_FROM",
    "ClientLog",
    "SkippedLine",
    "parse_client_log",
    "read_client_log",
    "since_opening",
]

# A time this far from zero is an epoch time (1973 on); a rehearsal is never this long.
EPOCH_FROM = 1e8


@dataclass(frozen=True, slots=True)
class SkippedLine:
    number: int  # 1-based, as an editor shows it
    reason: str


@dataclass(frozen=True, slots=True)
class ClientLog:
    requests: tuple[ClientRequest, ...]
    skipped: tuple[SkippedLine, ...]


class _Garbage(ValueError):
    pass


def since_opening(requests: Iterable[ClientRequest], opens_at: float) -> list[ClientRequest]:
    """The requests with their times in seconds since the opening (`opens_at`, epoch
    seconds); times already counted from the opening are kept as they are."""
    rebased = []
    for r in requests:
        if abs(r.t_start) >= EPOCH_FROM:
            t_end = r.t_end - opens_at if r.t_end is not None else None
            r = replace(r, t_start=r.t_start - opens_at, t_end=t_end)
        rebased.append(r)
    return rebased


def read_client_log(path: Path) -> ClientLog:
    """Read a log file; undecodable bytes become U+FFFD and their line is judged as text."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        return parse_client_log(lines)


def parse_client_log(lines: Iterable[str]) -> ClientLog:
    requests: list[ClientRequest] = []
    skipped: list[SkippedLine] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            requests.append(_request(_object(line)))
        except _Garbage as exc:
            skipped.append(SkippedLine(number, str(exc)))
    return ClientLog(tuple(requests), tuple(skipped))


def _object(line: str) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:  # NaN, Infinity and 1e400 are not JSON either
        raise _Garbage("not JSON") from exc
    if not isinstance(value, dict):
        raise _Garbage("not a JSON object")
    return value


def _request(record: dict[str, Any]) -> ClientRequest:
    t_start = _number(record, "t_start", required=True)
    assert t_start is not None
    t_end = _number(record, "t_end")
    if t_end is not None and t_end < t_start:
        raise _Garbage("t_end is before t_start")
    latency = _number(record, "latency_ms")
    if latency is not None and latency < 0:
        raise _Garbage("latency_ms is negative")
    if latency is None and t_end is not None:
        latency = (t_end - t_start) * 1000
    return ClientRequest(
        t_start=t_start,
        t_end=t_end,
        kind=_text(record.get("kind")) or "unknown",
        status=_status(record.get("status")),
        code=_text(record.get("code")),
        actor=sys.intern((_text(record.get("actor")) or "unknown").lower()),
        fan_id=_text(record.get("fan")) or _text(record.get("fan_id")),
        latency_ms=latency,
    )


def _number(record: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = record.get(name)
    if value is None:
        if required:
            raise _Garbage(f"no {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Garbage(f"{name} is not a number")
    return float(value)  # finite: orjson refuses NaN, Infinity and overflowing numbers


def _status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= 3:
        return int(value.strip())
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return sys.intern(text) if text else None  # a few names, repeated on every line
