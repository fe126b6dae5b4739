"""Requests per second and latency percentiles from a client log.

Percentiles are nearest-rank: the p-th percentile of n values is the value at rank
ceil(p/100 * n) in ascending order, so it is always one of the measured values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from soldout.reports.records import ClientRequest

__all__ = [
    "KindLatency",
    "TrafficBin",
    "bin_width",
    "latency_by_kind",
    "percentile",
    "traffic_over_time",
]

_WIDTHS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True, slots=True)
class TrafficBin:
    """Requests that started in [start, start + width) seconds since opening."""

    start: float
    requests: int
    per_second: float
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class KindLatency:
    kind: str
    requests: int
    errors: int  # answered outside 2xx (or not answered)
    p50: float | None
    p95: float | None
    p99: float | None


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of `values` (need not be sorted); 0 < p <= 100."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    return _nearest_rank(sorted(values), p)


def _nearest_rank(ordered: Sequence[float], p: float) -> float:
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def bin_width(span_seconds: float, max_bins: int = 300) -> int:
    """The smallest of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h that cuts
    `span_seconds` into at most `max_bins` bins (one hour beyond that)."""
    for width in _WIDTHS:
        if span_seconds / width <= max_bins:
            return width
    return _WIDTHS[-1]


def traffic_over_time(
    requests: Iterable[ClientRequest], origin: float, width: float = 1.0
) -> list[TrafficBin]:
    """Bins of `width` seconds from the first request's to the last's (empty ones too),
    aligned on `origin` (the opening, epoch seconds)."""
    latencies: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for r in requests:
        index = math.floor((r.t_start - origin) / width)
        counts[index] = counts.get(index, 0) + 1
        if r.latency_ms is not None:
            latencies.setdefault(index, []).append(r.latency_ms)
    if not counts:
        return []
    bins = []
    for index in range(min(counts), max(counts) + 1):
        values = latencies.get(index, [])
        p50, p95, p99 = _three(values)
        n = counts.get(index, 0)
        bins.append(TrafficBin(index * width, n, n / width, p50, p95, p99))
    return bins


def latency_by_kind(requests: Iterable[ClientRequest]) -> list[KindLatency]:
    """Per kind of request, in order of first appearance, then all requests together."""
    by_kind: dict[str, list[ClientRequest]] = {}
    for r in requests:
        by_kind.setdefault(r.kind, []).append(r)
    rows = [_row(kind, rs) for kind, rs in by_kind.items()]
    if len(rows) > 1:
        rows.append(_row("all", [r for rs in by_kind.values() for r in rs]))
    return rows


def _row(kind: str, requests: Sequence[ClientRequest]) -> KindLatency:
    values = [r.latency_ms for r in requests if r.latency_ms is not None]
    errors = sum(1 for r in requests if not r.ok)
    return KindLatency(kind, len(requests), errors, *_three(values))


def _three(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    ordered = sorted(values)
    return _nearest_rank(ordered, 50), _nearest_rank(ordered, 95), _nearest_rank(ordered, 99)
