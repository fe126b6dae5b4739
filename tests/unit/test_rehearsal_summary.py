"""The summary's figures: percentiles and the sell-out moment from the claims record."""

from __future__ import annotations

from soldout.rehearsal.checks import ServerClaim, ServerState, SkuCount
from soldout.rehearsal.summary import percentile, sell_out_seconds

OPENS = "2026-05-05T12:00:00+00:00"


def at(seconds: float) -> str:
    return f"2026-05-05T12:00:{seconds:09.6f}+00:00"


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_sold_out_when_every_unit_is_taken_at_once() -> None:
    claims = [
        ServerClaim("c1", "f1", "A", 1, "paid", None, at(1.0)),
        ServerClaim("c2", "f2", "A", 1, "expired", None, at(2.0), at(3.0)),
        ServerClaim("c3", "f3", "A", 1, "held", None, at(4.0)),  # takes c2's unit back
        ServerClaim("c4", "f4", "A", 1, "held", None, at(5.5)),
    ]
    state = ServerState({"A": SkuCount(3, 2, 1, 0)}, 1, claims, [])
    assert sell_out_seconds(state, OPENS) == 5.5


def test_units_set_aside_are_not_waited_for() -> None:
    claims = [ServerClaim("c1", "f1", "A", 2, "held", None, at(1.25))]
    state = ServerState({"A": SkuCount(3, 2, 0, 1)}, 2, claims, [])
    assert sell_out_seconds(state, OPENS) == 1.25


def test_not_sold_out() -> None:
    claims = [ServerClaim("c1", "f1", "A", 1, "held", None, at(1.0))]
    state = ServerState({"A": SkuCount(3, 1, 0, 0)}, 1, claims, [])
    assert sell_out_seconds(state, OPENS) is None
