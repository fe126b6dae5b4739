"""A published draw checked from its document alone (`soldout verify-draw`): the seed
against its commitment, the entries against their digest, and the result recomputed.

    verification = verify(json.load(open("draw.json")))
    verification.ok, verification.problems
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soldout.domain.draw import (
    ALGORITHM,
    HEX_DIGEST,
    MAX_PROBLEMS,
    commitment,
    is_count,
    is_text,
    rank_of,
)

__all__ = ["SkuTally", "Verification", "verify"]


@dataclass(frozen=True, slots=True)
class SkuTally:
    """What the document publishes for one SKU; None where it cannot be read."""

    sku: str
    units: int
    entries: int | None
    winners: int | None
    backups: int | None


@dataclass(frozen=True, slots=True)
class Verification:
    problems: tuple[str, ...]
    launch_id: str | None = None
    entries: int | None = None
    tallies: tuple[SkuTally, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


_Result = dict[str, tuple[list[str], list[str]]]


def verify(document: Mapping[str, Any]) -> Verification:
    """Recompute a published draw; every mismatch or malformed field becomes a problem."""
    if not isinstance(document, Mapping):
        return Verification(("the document is not a JSON object",))
    problems: list[str] = []
    for name in ("launch_id", "algorithm", "commitment", "seed", "units", "entries", "result"):
        if name not in document:
            problems.append(f"missing field {name!r}")
    launch_id = document.get("launch_id")
    if "launch_id" in document and not is_text(launch_id):
        problems.append("launch_id: expected a non-empty string")
    if "algorithm" in document and document["algorithm"] != ALGORITHM:
        problems.append(
            f"algorithm: this verifier knows {ALGORITHM!r}, not {document['algorithm']!r}"
        )
    digest = _digest(document, "commitment", problems)
    seed_hex = _digest(document, "seed", problems)
    units = _units(document.get("units"), problems)
    entries = _entries(document.get("entries"), problems)
    result = _result(document.get("result"), problems)
    seed_null = "seed" in document and document["seed"] is None
    result_null = "result" in document and document["result"] is None
    if seed_null and result_null:
        problems.append("the draw has not taken place yet: seed and result are null")
    elif seed_null:
        problems.append("seed: null, so the published result cannot be checked")
    elif result_null:
        problems.append("result: null, but the seed is revealed")
    seed = None if seed_hex is None else bytes.fromhex(seed_hex)
    if seed is not None and digest is not None and commitment(seed) != digest.lower():
        problems.append(
            f"seed: its SHA-256 is {commitment(seed)}, not the published commitment {digest}"
        )
    if seed is not None and units is not None and entries is not None and result is not None:
        problems += _check_result(seed, units, entries, result)
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], f"... and {more} more problems"]
    return Verification(
        tuple(problems),
        launch_id=launch_id if isinstance(launch_id, str) else None,
        entries=None if entries is None else len(entries),
        tallies=_tallies(units, entries, result),
    )


def _digest(document: Mapping[str, Any], name: str, problems: list[str]) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not HEX_DIGEST.fullmatch(value):
        problems.append(f"{name}: expected 64 hex digits")
        return None
    return value


def _units(value: object, problems: list[str]) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append("units: expected an object of SKU -> number of units")
        return None
    bad = [sku for sku, n in value.items() if not is_text(sku) or not is_count(n)]
    for sku in bad:
        problems.append(f"units.{sku}: expected a whole number, 0 or more")
    return None if bad else dict(value)


def _entries(value: object, problems: list[str]) -> list[tuple[str, str]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append("entries: expected a list")
        return None
    entries: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            problems.append(f"entries[{i}]: expected an object")
            continue
        rid, sku = item.get("reservation_id"), item.get("sku")
        for name, field_value in (("reservation_id", rid), ("sku", sku)):
            if not is_text(field_value):
                problems.append(f"entries[{i}].{name}: expected a non-empty string")
        if isinstance(rid, str) and isinstance(sku, str) and is_text(rid) and is_text(sku):
            entries.append((rid, sku))
    twice = _repeated(rid for rid, _ in entries)
    if twice:
        problems.append(f"entries: {_few(twice)} entered more than once")
    return entries if len(entries) == len(value) and not twice else None


def _result(value: object, problems: list[str]) -> _Result | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append("result: expected an object of SKU -> winners and backups")
        return None
    result: _Result = {}
    for sku, drawn in value.items():
        lists = [drawn.get(name) if isinstance(drawn, Mapping) else None for name in _LISTS]
        for name, ids in zip(_LISTS, lists, strict=True):
            if not isinstance(ids, list) or not all(isinstance(r, str) for r in ids):
                problems.append(f"result.{sku}.{name}: expected a list of reservation ids")
        winners, backups = lists
        if isinstance(winners, list) and isinstance(backups, list):
            result[str(sku)] = (winners, backups)
    return result if len(result) == len(value) else None


_LISTS = ("winners", "backups")


def _check_result(
    seed: bytes, units: dict[str, int], entries: list[tuple[str, str]], result: _Result
) -> list[str]:
    problems = [
        f"result.{sku}: SKU {sku} has no units in this draw" for sku in result.keys() - units
    ]
    rank = rank_of(seed)
    for sku, n in sorted(units.items()):
        if sku not in result:
            problems.append(f"result: SKU {sku} is missing")
            continue
        ranked = sorted((rid for rid, s in entries if s == sku), key=rank)
        problems += _compare(sku, n, ranked, *result[sku])
    return problems


def _compare(
    sku: str, n: int, ranked: list[str], winners: list[str], backups: list[str]
) -> list[str]:
    where, listed, pool = f"result.{sku}", winners + backups, set(ranked)
    problems, seen = [], set(listed)
    if unknown := [r for r in listed if r not in pool]:
        problems.append(f"{where}: {_few(unknown)} not among the entries for SKU {sku}")
    if twice := _repeated(listed):
        problems.append(f"{where}: {_few(twice)} listed more than once")
    if left_out := [r for r in ranked if r not in seen]:
        problems.append(f"{where}: {_few(left_out)} neither a winner nor a backup")
    if problems:
        return problems
    expected = ranked[:n]
    if len(winners) != len(expected):
        return [
            f"{where}.winners: {n} units among {len(ranked)} entries give {len(expected)}"
            f" winners, the document lists {len(winners)}"
        ]
    for name, want, got in (("winners", expected, winners), ("backups", ranked[n:], backups)):
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            if w != g:
                return [f"{where}.{name}[{i}]: the draw gives {w}, the document has {g}"]
    return []


def _tallies(
    units: dict[str, int] | None, entries: list[tuple[str, str]] | None, result: _Result | None
) -> tuple[SkuTally, ...]:
    if units is None:
        return ()
    counts = Counter(sku for _, sku in entries or ())
    return tuple(
        SkuTally(
            sku,
            n,
            None if entries is None else counts[sku],
            None if result is None or sku not in result else len(result[sku][0]),
            None if result is None or sku not in result else len(result[sku][1]),
        )
        for sku, n in sorted(units.items())
    )


def _repeated(ids: Iterable[str]) -> list[str]:
    return sorted(rid for rid, count in Counter(ids).items() if count > 1)


def _few(ids: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more
