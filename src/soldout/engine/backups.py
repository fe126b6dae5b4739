"""The backup lists of drawn launches: who waits, in which order, and who was served.

A fan is served once they hold any claim in the launch (a draw's, or one bought with a
priority code), or were passed over (their limit refused the unit, or they erased their
account). The next backup and a fan's place are found without scanning every claim: a
cursor per SKU moves past the served, and a fan's place is their index in the list less
the served ahead of them (a bisect), so a crowd reloading its launch page at the draw
costs O(log n) a fan.

    lists = BackupLists()
    launch = lists.start("lch_1", result, served={"fan_a"})
    lists.place("lch_1", "fan_c")          # -> ("A", 2): one unserved fan is ahead
    next(lists.waiting("lch_1", "A"))      # -> the first backup not served yet
    launch.waiting_count("A")              # -> how many on A's list are not served yet
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from soldout.domain.draw import DrawResult, Entry

__all__ = ["BackupLists", "LaunchBackups"]


@dataclass(slots=True)
class LaunchBackups:
    """One drawn launch's lists. Its book holds it too (`LaunchBook.backups`), to tell how
    many of a SKU's returned units someone is still waiting for."""

    backups: dict[str, tuple[Entry, ...]]
    index: dict[str, tuple[str, int]]  # fan -> (SKU, index on that SKU's list)
    served: set[str] = field(default_factory=set)
    taken: dict[str, list[int]] = field(default_factory=dict)  # SKU -> sorted served indices
    cursor: dict[str, int] = field(default_factory=dict)  # SKU -> first index maybe waiting

    def serve(self, fan_id: str) -> None:
        if fan_id in self.served:
            return
        self.served.add(fan_id)
        found = self.index.get(fan_id)
        if found is not None:
            sku, i = found
            bisect.insort(self.taken.setdefault(sku, []), i)

    def waiting_count(self, sku: str) -> int:
        """How many on the SKU's list are not served yet: O(1), as a fan is on one list
        only (one entry per fan and launch) and each served one is counted in `taken`."""
        return len(self.backups.get(sku, ())) - len(self.taken.get(sku, ()))


class BackupLists:
    def __init__(self) -> None:
        self._launches: dict[str, LaunchBackups] = {}

    def start(self, launch_id: str, result: DrawResult, served: Iterable[str]) -> LaunchBackups:
        """A launch was drawn (or its draw recomputed on start); `served` as defined above."""
        backups = {sku: drawn.backups for sku, drawn in result.skus.items()}
        index = {
            entry.fan_id: (sku, i)
            for sku, entries in backups.items()
            for i, entry in enumerate(entries)
        }
        lists = self._launches[launch_id] = LaunchBackups(backups, index)
        for fan_id in served:
            lists.serve(fan_id)
        return lists

    def forget(self, launch_id: str) -> None:
        self._launches.pop(launch_id, None)

    def tracks(self, launch_id: str) -> bool:
        return launch_id in self._launches

    def serve(self, launch_id: str, fan_id: str) -> None:
        """The fan holds a claim in the launch, or cannot take a unit: skip them."""
        lists = self._launches.get(launch_id)
        if lists is not None:
            lists.serve(fan_id)

    def pass_over(self, fan_id: str) -> None:
        """The fan is on no backup list any more (an erased account)."""
        for lists in self._launches.values():
            lists.serve(fan_id)

    def waiting(self, launch_id: str, sku: str) -> Iterator[Entry]:
        """The SKU's backups not served yet, in their order."""
        lists = self._launches.get(launch_id)
        if lists is None:
            return
        entries = lists.backups.get(sku, ())
        i = lists.cursor.get(sku, 0)
        while i < len(entries) and entries[i].fan_id in lists.served:
            i += 1
        lists.cursor[sku] = i
        for entry in entries[i:]:
            if entry.fan_id not in lists.served:
                yield entry

    def place(self, launch_id: str, fan_id: str) -> tuple[str, int] | None:
        """(SKU, place) of a fan waiting on a backup list: place 1 is offered the next unit
        of that SKU that comes back. None if the fan is not waiting there."""
        lists = self._launches.get(launch_id)
        if lists is None or fan_id in lists.served:
            return None
        found = lists.index.get(fan_id)
        if found is None:
            return None
        sku, i = found
        return sku, i - bisect.bisect_left(lists.taken.get(sku, []), i) + 1
