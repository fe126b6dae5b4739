"""The funnel: how many fans came, reserved, were admitted, claimed and paid.

With a client log, visitors are the distinct fans (and bots) in it. Without one, the
server knows only fans who reserved or claimed, so visitors is a lower bound.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from soldout.reports.records import ClaimRecord, ClientRequest, LaunchRecord

__all__ = ["FunnelStep", "funnel"]


@dataclass(frozen=True, slots=True)
class FunnelStep:
    name: str
    fans: int | None  # None: this launch has no such step, or nothing records it
    source: str


def funnel(
    launch: LaunchRecord,
    claims: Sequence[ClaimRecord],
    log: Sequence[ClientRequest] | None,
    refunded: Collection[str] = (),
) -> list[FunnelStep]:
    """`refunded`: the ids of refunded orders; a fan whose every order was refunded did
    not buy in the end (the key figures count paid units the same way)."""
    claimed = {c.fan_id for c in claims}
    paid = {c.fan_id for c in claims if c.order_id is not None and c.order_id not in refunded}
    return [
        _visitors(launch, claimed, log),
        FunnelStep("reserved", launch.reservations, "server: reservations"),
        _admitted(launch, log),
        FunnelStep("claimed", len(claimed), "server: fans with at least one claim"),
        FunnelStep("paid", len(paid), "server: fans with at least one paid order not refunded"),
    ]


def _visitors(
    launch: LaunchRecord, claimed: set[str], log: Sequence[ClientRequest] | None
) -> FunnelStep:
    if log is not None:
        fans = {r.fan_id for r in log if r.fan_id is not None and not r.by_harness}
        return FunnelStep("visitors", len(fans), "client log: distinct fans and bots")
    return FunnelStep(
        "visitors",
        max(launch.reservations, len(claimed)),
        "server: at least (fans who reserved or claimed; no client log)",
    )


def _admitted(launch: LaunchRecord, log: Sequence[ClientRequest] | None) -> FunnelStep:
    if not launch.has_waiting_room:
        return FunnelStep("admitted", None, "no waiting room on this launch")
    if launch.admitted is not None:
        return FunnelStep("admitted", launch.admitted, "server: waiting room, admitted in all")
    if log is not None:
        fans = {r.fan_id for r in log if r.kind == "claim" and r.fan_id and not r.by_harness}
        return FunnelStep("admitted", len(fans), "client log: fans who sent a claim")
    return FunnelStep("admitted", None, "not known: the server no longer has the room")
