"""A verifiable draw for launches in mode "draw": who may buy, in an order anyone can recompute.

Before the draw soldout publishes `commitment(seed)`; after it, the seed itself. Each SKU's
entries are ranked by HMAC-SHA256(seed, reservation_id), ascending: the first `units[sku]`
win, the rest are backups in that order. `publication` is the public document (reservation
ids only: each fan knows their own), and `verify` recomputes it from that document alone.

    seed = new_seed()
    published = commitment(seed)  # announced before the draw
    result = draw(seed, entries, {"A": 100})
    document = publication(launch_id, published, seed, entries, result, units={"A": 100})
    assert verify(document).ok
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soldout.domain.errors import InvalidInput

__all__ = [
    "ALGORITHM",
    "SEED_BYTES",
    "DrawResult",
    "Entry",
    "SkuDraw",
    "SkuTally",
    "Verification",
    "commitment",
    "draw",
    "new_seed",
    "publication",
    "ticket",
    "verify",
]

ALGORITHM = "hmac-sha256(seed, reservation_id), ascending, per SKU"
SEED_BYTES = 32
MAX_PROBLEMS = 50
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class Entry:
    """A fan's reservation, entered in the draw for one SKU."""

    reservation_id: str
    fan_id: str
    sku: str


@dataclass(frozen=True, slots=True)
class SkuDraw:
    units: int
    winners: tuple[Entry, ...]
    backups: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class DrawResult:
    skus: Mapping[str, SkuDraw]
    ignored: tuple[Entry, ...] = ()
    """Entries for SKUs that have no units in this draw."""

    def order(self, sku: str) -> tuple[Entry, ...]:
        """Winners then backups: the order in which `sku` is offered."""
        drawn = self.skus[sku]
        return drawn.winners + drawn.backups


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def commitment(seed: bytes) -> str:
    """Hex SHA-256 of the seed: published before the draw, so the seed cannot be chosen later."""
    return hashlib.sha256(seed).hexdigest()


def ticket(seed: bytes, reservation_id: str) -> str:
    """An entry's rank in its SKU: lower draws first."""
    return hmac.new(seed, reservation_id.encode(), hashlib.sha256).hexdigest()


def _rank(seed: bytes) -> Callable[[str], tuple[str, str]]:
    return lambda reservation_id: (ticket(seed, reservation_id), reservation_id)


def draw(seed: bytes, entries: Sequence[Entry], units: Mapping[str, int]) -> DrawResult:
    """Rank each SKU's entries; the same seed and entries give the same result in any order."""
    _check_seed(seed)
    _check_units(units)
    _check_entries(entries)
    rank = _rank(seed)
    pools: dict[str, list[Entry]] = {sku: [] for sku in sorted(units)}
    ignored: list[Entry] = []
    for entry in sorted(entries, key=lambda e: e.reservation_id):
        pools.get(entry.sku, ignored).append(entry)
    skus = {}
    for sku, pool in pools.items():
        ranked = sorted(pool, key=lambda e: rank(e.reservation_id))
        skus[sku] = SkuDraw(units[sku], tuple(ranked[: units[sku]]), tuple(ranked[units[sku] :]))
    return DrawResult(skus, tuple(ignored))


def publication(
    launch_id: str,
    seed_commitment: str,
    seed: bytes | None,
    entries: Sequence[Entry],
    result: DrawResult | None,
    *,
    units: Mapping[str, int],
) -> dict[str, Any]:
    """The public document of a draw: before it (seed and result None) and after it."""
    if not _HEX_DIGEST.fullmatch(seed_commitment):
        raise InvalidInput("the commitment is a hex SHA-256", field="commitment")
    _check_units(units)
    _check_entries(entries)
    if (seed is None) != (result is None):
        raise InvalidInput("the seed and the result are published together", field="seed")
    if seed is not None and commitment(seed) != seed_commitment.lower():
        raise InvalidInput("the seed does not match the published commitment", field="seed")
    if result is not None:
        if {sku: d.units for sku, d in result.skus.items()} != dict(units):
            raise InvalidInput("the result was drawn with other units", field="units")
        drawn = {e.reservation_id for e in result.ignored}
        drawn.update(e.reservation_id for sku in result.skus for e in result.order(sku))
        if drawn != {e.reservation_id for e in entries}:
            raise InvalidInput("the result was drawn from other entries", field="entries")
    return {
        "launch_id": launch_id,
        "algorithm": ALGORITHM,
        "commitment": seed_commitment,
        "seed": None if seed is None else seed.hex(),
        "units": {sku: units[sku] for sku in sorted(units)},
        "entries": [
            {"reservation_id": e.reservation_id, "sku": e.sku}
            for e in sorted(entries, key=lambda e: e.reservation_id)
        ],
        "result": None
        if result is None
        else {
            sku: {
                "winners": [e.reservation_id for e in d.winners],
                "backups": [e.reservation_id for e in d.backups],
            }
            for sku, d in result.skus.items()
        },
    }


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise InvalidInput(f"the seed is {SEED_BYTES} random bytes", field="seed")


def _check_units(units: Mapping[str, int]) -> None:
    for sku, n in units.items():
        if not _is_text(sku):
            raise InvalidInput("a SKU code is a non-empty string", field="units")
        if not _is_count(n):
            raise InvalidInput("units are a whole number, 0 or more", field=f"units.{sku}")


def _check_entries(entries: Iterable[Entry]) -> None:
    reservations: set[str] = set()
    fans: set[str] = set()
    for entry in entries:
        if not all(_is_text(v) for v in (entry.reservation_id, entry.fan_id, entry.sku)):
            raise InvalidInput("an entry's ids are non-empty strings", field="entries")
        if entry.reservation_id in reservations:
            raise InvalidInput(
                f"reservation {entry.reservation_id} is entered twice",
                field="entries",
                code="duplicate_entry",
            )
        if entry.fan_id in fans:
            raise InvalidInput(
                f"fan {entry.fan_id} is entered twice in this launch",
                field="entries",
                code="duplicate_entry",
            )
        reservations.add(entry.reservation_id)
        fans.add(entry.fan_id)


def _is_text(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# -- verification from the published document alone -------------------------------------


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
    if "launch_id" in document and not _is_text(launch_id):
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
    if not isinstance(value, str) or not _HEX_DIGEST.fullmatch(value):
        problems.append(f"{name}: expected 64 hex digits")
        return None
    return value


def _units(value: object, problems: list[str]) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append("units: expected an object of SKU -> number of units")
        return None
    bad = [sku for sku, n in value.items() if not _is_text(sku) or not _is_count(n)]
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
            if not _is_text(field_value):
                problems.append(f"entries[{i}].{name}: expected a non-empty string")
        if isinstance(rid, str) and isinstance(sku, str) and _is_text(rid) and _is_text(sku):
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
    rank = _rank(seed)
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
