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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soldout.domain.errors import InvalidInput

__all__ = [
    "ALGORITHM",
    "HEX_DIGEST",
    "MAX_PROBLEMS",
    "SEED_BYTES",
    "DrawResult",
    "Entry",
    "SkuDraw",
    "commitment",
    "draw",
    "is_count",
    "is_text",
    "new_seed",
    "publication",
    "rank_of",
    "ticket",
]

ALGORITHM = "hmac-sha256(seed, reservation_id), ascending, per SKU"
SEED_BYTES = 32
MAX_PROBLEMS = 50
HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


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


def rank_of(seed: bytes) -> Callable[[str], tuple[str, str]]:
    return lambda reservation_id: (ticket(seed, reservation_id), reservation_id)


def draw(seed: bytes, entries: Sequence[Entry], units: Mapping[str, int]) -> DrawResult:
    """Rank each SKU's entries; the same seed and entries give the same result in any order."""
    _check_seed(seed)
    _check_units(units)
    _check_entries(entries)
    rank = rank_of(seed)
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
    if not HEX_DIGEST.fullmatch(seed_commitment):
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
        if not is_text(sku):
            raise InvalidInput("a SKU code is a non-empty string", field="units")
        if not is_count(n):
            raise InvalidInput("units are a whole number, 0 or more", field=f"units.{sku}")


def _check_entries(entries: Iterable[Entry]) -> None:
    reservations: set[str] = set()
    fans: set[str] = set()
    for entry in entries:
        if not all(is_text(v) for v in (entry.reservation_id, entry.fan_id, entry.sku)):
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


def is_text(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
