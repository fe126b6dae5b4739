"""Rehearsal runs: what a rehearsal makes up is marked with its run id and kept apart.

A rehearsal (`soldout rehearse`) registers thousands of made-up fans, creates a product
and a launch, and buys. On a store that also sells for real, none of it may reach a
real fan, a real launch, an export or a report, and all of it must go away on request.
Three rules do it:

- a rehearsal's launch sells only a product of the same run, and a real launch only a
  real product: a rehearsal's orders never enter a real production queue (and never move
  a real fan's ship date);
- a rehearsal's fans are recognisable from their id alone (`fan_rh_...`), so the claim
  path tells them apart without reading the store; each run's fans see only that run's
  launches, real fans only real launches (`may_see`);
- a run is removed whole, by id (`RunRecord`), in one transaction.

    check_run_id("a1b2c3d4")                      # "a1b2c3d4", or InvalidInput on `run`
    is_rehearsal_fan("fan_rh_0f3c...")            # True
    may_see(launch_run=None, fan_id="fan_0f3c...", fan_run=None)   # True: real and real
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from soldout.domain.errors import InvalidInput

__all__ = [
    "REHEARSAL_FAN_MARK",
    "REHEARSAL_FAN_PREFIX",
    "RunCounts",
    "RunRecord",
    "check_run_id",
    "is_rehearsal_fan",
    "may_see",
]

# `new_id(REHEARSAL_FAN_PREFIX)` -> "fan_rh_<hex>": still a fan id ("fan_"), and no real
# fan id has "rh_" after "fan_" (real ids are hexadecimal there).
REHEARSAL_FAN_PREFIX = "fan_rh"
REHEARSAL_FAN_MARK = REHEARSAL_FAN_PREFIX + "_"  # how every such id starts
_RUN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_run_id(run: str) -> str:
    """A run id names a rehearsal in URLs and in the record: 1-64 letters, digits, '-'
    or '_', starting with a letter or digit."""
    if not isinstance(run, str) or not _RUN.match(run):
        raise InvalidInput(
            "a rehearsal run id is 1-64 letters, digits, '-' or '_', starting with a letter"
            " or digit",
            field="run",
        )
    return run


def is_rehearsal_fan(fan_id: str) -> bool:
    return fan_id.startswith(REHEARSAL_FAN_MARK)


def may_see(*, launch_run: str | None, fan_id: str | None, fan_run: str | None) -> bool:
    """Whether a fan (None: anyone, signed out) may see a launch at all.

    A real launch (`launch_run` None) is for real fans and for anyone; a rehearsal's
    launch only for the fans that same run made up (`fan_run`, None once the run is
    removed: its fans' tokens then reach nothing)."""
    if fan_id is not None and is_rehearsal_fan(fan_id):
        return launch_run is not None and fan_run == launch_run
    return launch_run is None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything one rehearsal run holds in the store, by id: what removing it deletes.
    The engine knows every id (it holds every launch, claim, order and payment)."""

    run: str
    launch_ids: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    fan_ids: tuple[str, ...] = ()
    claim_ids: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()
    payment_ids: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()  # names of the run's secrets (its draws' seeds)


@dataclass(frozen=True, slots=True)
class RunCounts:
    """What one run (or, with `run` None, the real shop) holds."""

    run: str | None
    products: int = 0
    launches: int = 0
    fans: int = 0
    claims: int = 0
    orders: int = 0
    launch_ids: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.products or self.launches or self.fans or self.orders)
