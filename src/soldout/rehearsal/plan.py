"""Who takes part and how each behaves, drawn once from the scenario and the seed.

Pure: the same scenario and seed give the same people, arrivals, choices and delays
(the run's timing still depends on the server). `run_id` only makes e-mails and
addresses unique, so that runs against one server do not collide.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from soldout.rehearsal.scenario import Scenario, Spread

__all__ = ["Participant", "plan_participants"]


@dataclass(slots=True)
class Participant:
    """One simulated client: its plan (fixed before the run) and what happened to it."""

    index: int
    actor: Literal["fan", "bot"]
    email: str
    address: str | None
    sku: str  # what it wants
    arrival: float  # seconds from the opening
    reaction: float  # seconds from being let in to pressing
    pay_delay: float
    abandons: bool  # never pays: the claim expires
    reserves: bool
    referred: bool = False  # registers with another fan's referral code
    fan_id: str = ""
    token: str = ""
    referral_code: str = ""
    reservation_id: str | None = None
    took_part: bool = False
    claims: list[str] = field(default_factory=list)  # ids of claims won
    orders: list[str] = field(default_factory=list)
    outcome: str = "not started"  # how it ended, for the summary


def _draw(rng: random.Random, spread: Spread) -> float:
    if not spread.sd_seconds:
        return spread.mean_seconds
    return rng.gauss(spread.mean_seconds, spread.sd_seconds)


def _pick_sku(rng: random.Random, scenario: Scenario) -> str:
    skus = scenario.launch.skus
    return rng.choices([s.code for s in skus], weights=[s.batch for s in skus])[0]


def plan_participants(scenario: Scenario, seed: int, run_id: str) -> list[Participant]:
    """Fans first (in registration order: those who bring a referral code last), then bots."""
    rng = random.Random(seed)
    crowd, bots, launch = scenario.crowd, scenario.bots, scenario.launch
    countdown = launch.opens_in_seconds
    people: list[Participant] = []
    for i in range(crowd.fans):
        early = rng.random() < crowd.early_share
        arrival = -rng.uniform(0, countdown) if early else _draw(rng, crowd.arrival)
        people.append(
            Participant(
                index=i,
                actor="fan",
                email=f"fan{i}.{run_id}@rehearsal.test",
                address=f"{i + 1} Rehearsal Road {run_id}, Fanville",
                sku=_pick_sku(rng, scenario),
                arrival=max(arrival, -countdown),
                reaction=max(0.0, _draw(rng, crowd.reaction)),
                pay_delay=max(0.0, _draw(rng, crowd.pay_delay)),
                abandons=rng.random() < crowd.abandon_share,
                reserves=launch.needs_reservations and rng.random() < crowd.reserve_share,
                referred=i > 0 and rng.random() < crowd.referral_share,
            )
        )
    people.sort(key=lambda p: p.referred)  # a referral code must exist before it is used
    for i in range(bots.accounts):
        solo = bots.addresses == 0 or rng.random() < bots.own_address_share
        address = (
            f"{i + 1} Solo Street {run_id}, Botton"
            if solo
            else f"{i % bots.addresses + 1} Bot Lane {run_id}, Botton"
        )
        people.append(
            Participant(
                index=crowd.fans + i,
                actor="bot",
                email=f"bot{i}.{run_id}@rehearsal.test",
                address=address,
                sku=_pick_sku(rng, scenario),
                arrival=-min(bots.head_start_seconds, countdown) + rng.uniform(0, 0.2),
                reaction=0.0,
                pay_delay=0.0,
                abandons=False,
                reserves=launch.needs_reservations,
            )
        )
    return people
