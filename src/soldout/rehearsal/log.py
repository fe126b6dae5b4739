"""The client-side record of a rehearsal: one JSON line per request, and live counters.

A line (format in docs/rehearsal.md, "The request log"; `soldout report` reads it):

    {"t_start": -1.2034, "t_end": -1.1981, "latency_ms": 5.3, "kind": "join", "status": 200,
     "code": null, "actor": "fan", "fan": "fan_...", "sku": null, "attempt": 1}

Times are seconds from the sale's opening (negative before it), on the client's clock;
lines made before the opening is known (the setup) are written once it is.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import orjson

__all__ = ["Actor", "Counters", "Record", "RequestLog", "Timeline"]

Actor = Literal["fan", "bot", "setup", "check"]
ERROR_CODES = frozenset({"timeout", "connection_error"})


class Timeline:
    """The client's clock: `time.monotonic()`, and the sale's opening on it once known."""

    def __init__(self) -> None:
        self.opening: float | None = None

    def open_at(self, seconds_from_now: float) -> None:
        self.opening = time.monotonic() + seconds_from_now

    def now(self) -> float:
        """Seconds from the opening (from an unknown opening: seconds from the start)."""
        return time.monotonic() - (self.opening if self.opening is not None else _START)

    def since_opening(self, moment: float) -> float:
        """A `time.monotonic()` value as seconds from the opening."""
        assert self.opening is not None
        return moment - self.opening


_START = time.monotonic()


@dataclass(frozen=True, slots=True)
class Record:
    started: float  # time.monotonic()
    ended: float
    kind: str
    status: int  # 0: no answer (timeout, connection error)
    code: str | None  # the error code of the answer, "timeout", "connection_error"; None: success
    actor: Actor
    fan: str | None
    sku: str | None = None
    attempt: int = 1

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000

    @property
    def is_error(self) -> bool:
        """No answer, or a server error: what the progress display counts as errors."""
        return self.status == 0 or self.status >= 500


@dataclass
class Counters:
    """What the progress display shows; updated with every record."""

    requests: int = 0
    errors: int = 0
    claims_won: int = 0
    sold_out: int = 0
    rate_limited: int = 0
    paid: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    phase: str = "starting"

    def add(self, record: Record) -> None:
        self.requests += 1
        self.by_kind[record.kind] += 1
        if record.is_error:
            self.errors += 1
        elif record.kind == "claim":
            if record.status == 201:
                self.claims_won += 1
            elif record.code == "sold_out":
                self.sold_out += 1
        elif record.kind == "pay" and record.status == 200:
            self.paid += 1
        if record.status == 429:
            self.rate_limited += 1


class RequestLog:
    """Appends records to a JSON Lines file and keeps them for the summary."""

    def __init__(self, path: Path, timeline: Timeline) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._timeline = timeline
        self._out: IO[bytes] = path.open("wb")
        self._unwritten: list[Record] = []  # until the opening is known
        self.records: list[Record] = []
        self.counters = Counters()

    def add(self, record: Record) -> None:
        self.records.append(record)
        self.counters.add(record)
        if self._timeline.opening is None:
            self._unwritten.append(record)
            return
        if self._unwritten:
            for early in self._unwritten:
                self._write(early)
            self._unwritten.clear()
        self._write(record)

    def _write(self, record: Record) -> None:
        since = self._timeline.since_opening
        self._out.write(
            orjson.dumps(
                {
                    "t_start": round(since(record.started), 6),
                    "t_end": round(since(record.ended), 6),
                    "latency_ms": round(record.latency_ms, 3),
                    "kind": record.kind,
                    "status": record.status,
                    "code": record.code,
                    "actor": record.actor,
                    "fan": record.fan,
                    "sku": record.sku,
                    "attempt": record.attempt,
                }
            )
            + b"\n"
        )

    def close(self) -> None:
        if self._timeline.opening is not None:
            for early in self._unwritten:
                self._write(early)
        self._out.close()
