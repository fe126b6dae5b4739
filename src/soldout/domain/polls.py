"""Polls that size the next batch, and the batch split they suggest with the reservations.

Pure rules, no I/O. The maker asks ("Which colour for batch 3?"); each option may stand for
a SKU. A fan answers once (and may change the answer while the poll is open).

    tally(poll, answers, buyers)          # per option: all answers, verified buyers' apart
    suggest_batch(300, {"BLK": 120, "WHT": 40}, {"BLK": 50, "WHT": 150})
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.errors import Conflict, InvalidInput
from soldout.domain.text import check_text

__all__ = [
    "ANSWER_WEIGHT",
    "OptionTally",
    "Poll",
    "PollOption",
    "check_options",
    "suggest_batch",
    "tally",
]

ANSWER_WEIGHT = 0.5
"""A poll's answer counts half a reservation in the suggested split: a reservation is a
fan saying they will buy, an answer only what they would like."""

MAX_OPTIONS = 12


@dataclass(frozen=True, slots=True)
class PollOption:
    key: str  # "1", "2", ... in the order given
    label: str
    sku: str | None = None  # the SKU this option stands for, if any


@dataclass(frozen=True, slots=True)
class Poll:
    id: str
    product_id: str
    question: str
    options: tuple[PollOption, ...]
    created_at: datetime
    closes_at: datetime | None = None
    closed: bool = False  # closed by the maker before `closes_at`
    hidden: bool = False

    def is_open(self, now: datetime) -> bool:
        return not self.closed and (self.closes_at is None or now < self.closes_at)

    def option(self, key: object) -> PollOption:
        for option in self.options:
            if option.key == key:
                return option
        keys = ", ".join(o.key for o in self.options)
        raise InvalidInput(f"option must be one of: {keys}", field="option")

    def check_answer(self, key: object, now: datetime) -> PollOption:
        if not self.is_open(now):
            raise Conflict("this poll is closed").with_code("poll_closed")
        return self.option(key)


def check_options(raw: object, skus: Collection[str]) -> tuple[PollOption, ...]:
    """Two to twelve options, each a label and optionally one of the product's SKUs
    (each SKU at most once, each label once)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not 2 <= len(raw) <= MAX_OPTIONS:
        raise InvalidInput(f"give 2 to {MAX_OPTIONS} options", field="options")
    options: list[PollOption] = []
    for i, item in enumerate(raw):
        where = f"options[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput("each option is an object with a label", field=where)
        label = check_text(item.get("label"), field=f"{where}.label", limit=100, label="label")
        sku = item.get("sku") or None
        if sku is not None and sku not in skus:
            raise InvalidInput(f"the product has no SKU {sku!r}", field=f"{where}.sku")
        if any(o.label.casefold() == label.casefold() for o in options):
            raise InvalidInput("each option's label is given once", field=f"{where}.label")
        if sku is not None and any(o.sku == sku for o in options):
            raise InvalidInput("each SKU stands for one option", field=f"{where}.sku")
        options.append(PollOption(str(i + 1), label, sku))
    return tuple(options)


@dataclass(frozen=True, slots=True)
class OptionTally:
    option: PollOption
    answers: int
    buyers: int  # answers of fans who bought the product (a paid order)


def tally(poll: Poll, answers: Mapping[str, str], buyers: Collection[str]) -> list[OptionTally]:
    """Per option, in the poll's order: how many fans chose it, and how many of those are
    verified buyers. `answers` is fan id -> option key."""
    counts = dict.fromkeys((o.key for o in poll.options), 0)
    bought = dict.fromkeys(counts, 0)
    for fan_id, key in answers.items():
        if key in counts:
            counts[key] += 1
            bought[key] += fan_id in buyers
    return [OptionTally(o, counts[o.key], bought[o.key]) for o in poll.options]


def suggest_batch(
    total: int,
    reservations: Mapping[str, int],
    answers: Mapping[str, int],
    skus: Sequence[str] | None = None,
    *,
    unassigned: int = 0,
    answer_weight: float = ANSWER_WEIGHT,
) -> dict[str, int]:
    """Split `total` units over the SKUs in proportion to the demand seen: each SKU's
    reservations, plus `answer_weight` per poll answer for it, plus its share of the
    `unassigned` reservations (those that named no SKU), shared as the poll's answers are
    (or, with no answers, as the reservations that named a SKU are). Whole units by the
    largest remainder (Hamilton's method), so the split always sums to `total`; ties go to
    the SKU with the most reservations, then by name. With no demand seen at all, an even
    split. `skus` fixes which SKUs take part (by default those with any demand)."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise InvalidInput("total must be a whole number, 0 or more", field="total")
    names = list(skus) if skus is not None else sorted({*reservations, *answers})
    if not names:
        return {}
    follow = _shares(names, answers) or _shares(names, reservations)
    weight = {
        s: reservations.get(s, 0)
        + answer_weight * answers.get(s, 0)
        + unassigned * follow.get(s, 0)
        for s in names
    }
    whole = sum(weight.values())
    if whole <= 0:
        weight, whole = dict.fromkeys(names, 1.0), float(len(names))
    share = {s: total * weight[s] / whole for s in names}
    split = {s: math.floor(share[s]) for s in names}
    left = total - sum(split.values())
    order = sorted(names, key=lambda s: (-(share[s] - split[s]), -reservations.get(s, 0), s))
    for sku in order[:left]:
        split[sku] += 1
    return split


def _shares(names: Sequence[str], counts: Mapping[str, int]) -> dict[str, float]:
    """Each name's share of `counts` (empty when they count nothing)."""
    whole = sum(counts.get(s, 0) for s in names)
    return {s: counts.get(s, 0) / whole for s in names} if whole > 0 else {}
