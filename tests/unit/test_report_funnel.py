"""The funnel with and without a client log, with and without a waiting room."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from soldout.reports.funnel import FunnelStep, funnel
from soldout.reports.records import ClaimRecord, ClientRequest, LaunchRecord

OPENS = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

LAUNCH = LaunchRecord(
    id="lau_1",
    title="t",
    product_name="p",
    status="open",
    mode="first_come",
    sale_opens_at=OPENS,
    sale_closes_at=None,
    has_waiting_room=True,
    reservations=4,
    skus=(),
    admitted=3,
)


def claim(fan: str, order: str | None = None) -> ClaimRecord:
    return ClaimRecord(f"c-{fan}", fan, "A", 1, "held", OPENS, None, order, None)


# Fans a, b and c claimed (a twice); a paid.
CLAIMS = [claim("a", "o1"), claim("a"), claim("b"), claim("c")]


def line(fan: str | None, kind: str = "register") -> ClientRequest:
    return ClientRequest(0.0, None, kind, 201, None, "fan", fan, 1.0)


def harness(fan: str) -> ClientRequest:
    return ClientRequest(0.0, None, "claim", 200, None, "check", fan, 1.0)


LOG = [
    *(line(fan) for fan in ("a", "b", "c", "d", "e", "a", None)),
    harness("z"),  # the rehearsal checking, not a visitor
]


def counts(steps: list[FunnelStep]) -> list[tuple[str, int | None]]:
    return [(s.name, s.fans) for s in steps]


def test_with_a_client_log_visitors_are_its_distinct_fans() -> None:
    assert counts(funnel(LAUNCH, CLAIMS, LOG)) == [
        ("visitors", 5),
        ("reserved", 4),
        ("admitted", 3),
        ("claimed", 3),
        ("paid", 1),
    ]


def test_without_a_log_visitors_are_at_least_those_the_server_knows() -> None:
    steps = funnel(LAUNCH, CLAIMS, None)
    assert steps[0] == FunnelStep(
        "visitors", 4, "server: at least (fans who reserved or claimed; no client log)"
    )
    more_claimers = replace(LAUNCH, reservations=1)
    assert funnel(more_claimers, CLAIMS, None)[0].fans == 3


def test_no_waiting_room_no_admitted_step() -> None:
    no_room = replace(LAUNCH, has_waiting_room=False, admitted=None)
    admitted = funnel(no_room, CLAIMS, LOG)[2]
    assert (admitted.fans, admitted.source) == (None, "no waiting room on this launch")


def test_a_room_the_server_forgot_is_counted_from_claims_in_the_log() -> None:
    forgot = replace(LAUNCH, admitted=None)
    log = [*LOG, line("a", "claim"), line("b", "claim"), line("a", "claim"), harness("y")]
    assert funnel(forgot, CLAIMS, log)[2].fans == 2
    assert funnel(forgot, CLAIMS, None)[2].fans is None


def test_a_fan_whose_every_order_was_refunded_did_not_pay_in_the_end() -> None:
    claims = [*CLAIMS, claim("b", "o2"), claim("c", "o3"), claim("c", "o4")]
    # b's only order and one of c's two were refunded
    steps = funnel(LAUNCH, claims, None, refunded={"o2", "o3"})
    assert steps[-1] == FunnelStep(
        "paid", 2, "server: fans with at least one paid order not refunded"
    )
    assert funnel(LAUNCH, claims, None)[-1].fans == 3
