"""Who won, from the client log: the win rate of bots against fans, and by arrival time.

A fan wins when they got a unit: a 2xx answer to a claim in the log, or (given) a claim in
the server's record. A fan's arrival is their first request to buy (anything but
registering and reserving, which a rehearsal does for everyone before the sale), or their
first request at all if they made no other. Requests of the rehearsal itself (actors
`setup` and `check`) are nobody's. Times are seconds since the opening.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from soldout.reports.records import ClientRequest

__all__ = [
    "BEFORE_THE_SALE",
    "ArrivalRate",
    "FanOutcome",
    "WinRate",
    "fan_outcomes",
    "win_rate_by_actor",
    "win_rate_by_arrival",
]

BEFORE_THE_SALE = frozenset({"register", "reserve"})
_ACTOR_ORDER = {"fan": 0, "bot": 1}


@dataclass(frozen=True, slots=True)
class FanOutcome:
    fan_id: str
    actor: str
    arrived: float
    won: bool


@dataclass(frozen=True, slots=True)
class WinRate:
    actor: str
    fans: int
    winners: int

    @property
    def rate(self) -> float | None:
        return self.winners / self.fans if self.fans else None


@dataclass(frozen=True, slots=True)
class ArrivalRate:
    """Fans whose arrival was in [start, start + width) seconds since opening."""

    start: float
    width: float
    fans: int
    winners: int

    @property
    def rate(self) -> float | None:
        return self.winners / self.fans if self.fans else None


def fan_outcomes(
    requests: Iterable[ClientRequest], server_winners: Collection[str] = ()
) -> list[FanOutcome]:
    """One outcome per fan id in the log, by arrival. A fan seen as a bot in any line is
    a bot; otherwise a fan in any line is a fan."""
    first_any: dict[str, float] = {}
    first_buying: dict[str, float] = {}
    actor: dict[str, str] = {}
    won: set[str] = set()
    for r in requests:
        if r.fan_id is None or r.by_harness:
            continue
        fan = r.fan_id
        first_any[fan] = min(first_any.get(fan, r.t_start), r.t_start)
        if r.kind not in BEFORE_THE_SALE:
            first_buying[fan] = min(first_buying.get(fan, r.t_start), r.t_start)
        if _ACTOR_ORDER.get(r.actor, -1) > _ACTOR_ORDER.get(actor.get(fan, ""), -1):
            actor[fan] = r.actor
        actor.setdefault(fan, r.actor)
        if r.kind == "claim" and r.ok:
            won.add(fan)
    outcomes = [
        FanOutcome(fan, actor[fan], first_buying.get(fan, at), fan in won or fan in server_winners)
        for fan, at in first_any.items()
    ]
    outcomes.sort(key=lambda o: (o.arrived, o.fan_id))
    return outcomes


def win_rate_by_actor(outcomes: Sequence[FanOutcome]) -> list[WinRate]:
    """Fans and bots first, then any other actor the log names, alphabetically."""
    actors = sorted({o.actor for o in outcomes}, key=lambda a: (_ACTOR_ORDER.get(a, 2), a))
    return [
        WinRate(
            a,
            sum(1 for o in outcomes if o.actor == a),
            sum(1 for o in outcomes if o.actor == a and o.won),
        )
        for a in actors
    ]


def win_rate_by_arrival(outcomes: Sequence[FanOutcome], width: float = 1.0) -> list[ArrivalRate]:
    """Buckets of `width` seconds of arrival, in order; negative starts are arrivals
    before opening. Empty buckets are left out."""
    fans: dict[int, int] = {}
    winners: dict[int, int] = {}
    for o in outcomes:
        index = math.floor(o.arrived / width)
        fans[index] = fans.get(index, 0) + 1
        winners[index] = winners.get(index, 0) + int(o.won)
    return [ArrivalRate(i * width, width, fans[i], winners[i]) for i in sorted(fans)]
