"""Duplicate buyers: several fan accounts behind one delivery address or phone number.

    index = DuplicateIndex(limit=2)
    index.add("fan_1", "12 Main Street, Apt 4", "+44 20 7946 0958")
    index.add("fan_2", "12 main st. apt. 4", None)
    index.add("fan_3", "12 MAIN ST #4", None)   # -> ["fan_1", "fan_2", "fan_3"]

Addresses and phones are compared after normalisation, which folds the variants people
type (case, accents, punctuation, spacing, common abbreviations); it does not geocode.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

__all__ = [
    "DuplicateIndex",
    "DuplicateRule",
    "normalise_address",
    "normalise_phone",
    "same_buyer",
]

MIN_PHONE_DIGITS = 6  # shorter "numbers" (0, 123, n/a) are placeholders, not phones

_ABBREVIATIONS = {
    "street": "st",
    "str": "st",
    "strasse": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "square": "sq",
    "terrace": "ter",
    "highway": "hwy",
    "parkway": "pkwy",
    "crescent": "cres",
    "close": "cl",
    "mount": "mt",
    "apartment": "apt",
    "appartment": "apt",
    "flat": "apt",
    "unit": "apt",
    "#": "apt",
    "suite": "ste",
    "floor": "fl",
    "building": "bldg",
    "number": "no",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
_WORDS = re.compile(r"#|\d+|[^\W\d_]+")  # "4B" and "4-b" are both "4 b"
_EXTENSION = re.compile(r"(?:ext\.?|extension|x)\s*\d+\s*$", re.IGNORECASE)


class DuplicateRule(StrEnum):
    """What a launch does with an order from a fan flagged as a duplicate buyer.

    ALLOW: sell as usual; the order is only flagged, for a human to look at.
    HOLD: sell, but hold the order for review: it does not ship until someone releases it.
    CANCEL: refuse the claim; an order already paid is cancelled and refunded.
    """

    ALLOW = "allow"
    HOLD = "hold"
    CANCEL = "cancel"


def normalise_address(text: str) -> str:
    """'12 Main Street, Apt. 4' and '12 MAIN ST #4' both give '12 main st apt 4'."""
    folded = unicodedata.normalize("NFKD", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)  # as Unicode's NFKC_Casefold does
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words: list[str] = []
    for word in _WORDS.findall(plain):
        folded = _ABBREVIATIONS.get(word, word)
        if folded == "apt" and words and words[-1] == "apt":
            continue  # "apt #4", "flat no 4"
        if folded == "no" and words and words[-1] == "apt":
            continue
        words.append(folded)
    return " ".join(words)


def normalise_phone(text: str) -> str:
    """Digits only, with a leading '+' if the number has a country code ('+' or '00').

    '0044 (0)20 7946-0958' -> '+442079460958'. A national number stays national
    ('020 7946 0958' -> '02079460958'): without a country to assume, they differ.
    """
    text = _EXTENSION.sub("", unicodedata.normalize("NFKC", text)).strip()
    plus = text.startswith("+")
    digits = _digits(text)
    international = plus or digits.startswith("00")
    if international:
        # "+44 (0)20 ...": the trunk 0 in brackets is not dialled from abroad
        digits = _digits(text.replace("(0)", ""))
        if not plus:
            digits = digits[2:]
    if not digits:
        return ""
    return "+" + digits if international else digits


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isdigit())


class DuplicateIndex:
    """Fans grouped by normalised address and phone; a group larger than `limit` is flagged.

    A fan counts at the address and phone they have now: `replace` moves a fan who gives a
    new address (a typo fixed, a move), so a group depends on the record alone, the same
    before and after a restart. The same fan at the same address counts once.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._fans_by_key: dict[str, dict[str, None]] = {}  # ordered sets of fan ids
        self._keys_by_fan: dict[str, set[str]] = {}
        self._flagged: set[str] = set()

    def add(self, fan_id: str, address: str | None, phone: str | None) -> list[str]:
        """Record the fan; return every fan (this one included) in a group of this fan's
        that has more than `limit` fans, each once, or [] if there is none."""
        keys = self._keys_by_fan.setdefault(fan_id, set())
        crowded: dict[str, None] = {}
        for key in _keys(address, phone):
            keys.add(key)
            fans = self._fans_by_key.setdefault(key, {})
            fans[fan_id] = None
            if len(fans) > self.limit:
                crowded.update(fans)
        self._flagged.update(crowded)
        return list(crowded)

    def replace(self, fan_id: str, address: str | None, phone: str | None) -> list[str]:
        """The fan's address or phone changed: count them only where they are now. Returns
        as `add` does."""
        self.remove(fan_id)
        return self.add(fan_id, address, phone)

    def remove(self, fan_id: str) -> None:
        """The fan no longer counts anywhere; the others of their old groups are flagged
        only if a group of theirs is still too large."""
        touched: set[str] = set()
        for key in self._keys_by_fan.pop(fan_id, set()):
            fans = self._fans_by_key[key]
            fans.pop(fan_id, None)
            touched.update(fans)
            if not fans:
                del self._fans_by_key[key]
        self._flagged.discard(fan_id)
        for other in touched:
            keys = self._keys_by_fan.get(other, set())
            if not any(len(self._fans_by_key[k]) > self.limit for k in keys):
                self._flagged.discard(other)

    def flagged(self, fan_id: str) -> bool:
        return fan_id in self._flagged

    def every_flagged(self) -> set[str]:
        """Every fan flagged now (a copy)."""
        return set(self._flagged)

    def group_of(self, fan_id: str) -> set[str]:
        """The fans sharing an address or phone with this one, itself included; empty for
        a fan never added."""
        if fan_id not in self._keys_by_fan:
            return set()
        group = {fan_id}
        for key in self._keys_by_fan[fan_id]:
            group.update(self._fans_by_key[key])
        return group


def same_buyer(
    address: str | None, phone: str | None, other_address: str | None, other_phone: str | None
) -> bool:
    """Whether two accounts share a delivery address or a phone number, as the duplicate
    check compares them: one person behind both, as far as soldout can tell."""
    return not set(_keys(address, phone)).isdisjoint(_keys(other_address, other_phone))


def _keys(address: str | None, phone: str | None) -> list[str]:
    keys = []
    if address and (normalised := normalise_address(address)):
        keys.append("address:" + normalised)
    if phone:
        number = normalise_phone(phone)
        if sum(c.isdigit() for c in number) >= MIN_PHONE_DIGITS:
            keys.append("phone:" + number)
    return keys
