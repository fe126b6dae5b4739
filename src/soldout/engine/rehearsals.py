"""Which fans each rehearsal run made up, in memory: who may see which launch, decided on
the claim path without a store read.

    marks = RehearsalMarks()
    marks.mark("fan_rh_0f3c...", "a1b2c3d4")
    marks.sees("fan_rh_0f3c...", launch)   # only a launch of run a1b2c3d4

Loaded from the store on start (`load`), kept as fans register, forgotten with the run.
"""

from __future__ import annotations

from collections.abc import Iterable

from soldout.domain.launches import Launch
from soldout.domain.rehearsals import is_rehearsal_fan, may_see

__all__ = ["RehearsalMarks"]


class RehearsalMarks:
    def __init__(self) -> None:
        self._runs: dict[str, str] = {}  # fan -> run

    def load(self, marks: Iterable[tuple[str, str]]) -> None:
        self._runs.update(marks)

    def mark(self, fan_id: str, run: str) -> None:
        self._runs[fan_id] = run

    def run_of(self, fan_id: str) -> str | None:
        return self._runs.get(fan_id)

    def fans_of(self, run: str) -> list[str]:
        return [fan for fan, of in self._runs.items() if of == run]

    def runs(self) -> dict[str, int]:
        """Each run with a fan still here, and how many fans it made up."""
        counts: dict[str, int] = {}
        for run in self._runs.values():
            counts[run] = counts.get(run, 0) + 1
        return counts

    def sees(self, fan_id: str | None, launch: Launch) -> bool:
        """Whether `fan_id` (None: anyone) may see `launch` at all (`may_see`). On every
        claim: a real fan costs a prefix test, no lookup."""
        made_up = fan_id is not None and is_rehearsal_fan(fan_id)
        fan_run = self._runs.get(fan_id) if made_up and fan_id is not None else None
        return may_see(launch_run=launch.rehearsal, fan_id=fan_id, fan_run=fan_run)

    def forget(self, run: str) -> list[str]:
        """Drop the run's fans; their ids."""
        gone = self.fans_of(run)
        for fan in gone:
            del self._runs[fan]
        return gone
