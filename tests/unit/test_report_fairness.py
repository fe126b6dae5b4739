"""Win rates of bots against fans and by arrival second, from a hand-made log (times in
seconds since the opening, as `client_log.since_opening` gives them)."""

from __future__ import annotations

from soldout.reports.fairness import (
    ArrivalRate,
    WinRate,
    fan_outcomes,
    win_rate_by_actor,
    win_rate_by_arrival,
)
from soldout.reports.records import ClientRequest


def line(fan: str | None, actor: str, at: float, kind: str, status: int) -> ClientRequest:
    return ClientRequest(at, None, kind, status, None, actor, fan, 1.0)


LOG = [
    line("f1", "fan", -30.0, "register", 201),  # before the sale: not an arrival
    line("b1", "bot", -0.5, "claim", 409),  # a bot before opening (not_open), ...
    line("f1", "fan", 0.25, "room", 200),  # f1 arrives
    line("f1", "fan", 0.5, "claim", 201),  # won
    line("f2", "fan", -20.0, "reserve", 201),
    line("f2", "fan", 0.75, "claim", 409),  # sold out
    line("b1", "bot", 0.9, "claim", 201),  # ... then won
    line("b2", "bot", 1.25, "claim", 409),
    line("f3", "fan", -10.0, "reserve", 201),  # f3 only reserved (before the sale) ...
    line("b3", "bot", 1.75, "claim", 429),
    line("b1", "bot", 2.5, "claim", 409),  # a later, losing try changes nothing
    line(None, "setup", -60.0, "setup", 201),  # the rehearsal's own requests: nobody's
    line("f2", "check", 30.0, "claim", 200),
]


def test_one_outcome_per_fan_arriving_with_their_first_request_to_buy() -> None:
    outcomes = fan_outcomes(LOG, server_winners={"f3", "someone-not-in-the-log"})
    assert [(o.fan_id, o.actor, o.arrived, o.won) for o in outcomes] == [
        ("f3", "fan", -10.0, True),  # ... so that is their arrival; won in the server's record
        ("b1", "bot", -0.5, True),
        ("f1", "fan", 0.25, True),
        ("f2", "fan", 0.75, False),  # the check's 200 is not f2's
        ("b2", "bot", 1.25, False),
        ("b3", "bot", 1.75, False),
    ]


def test_win_rate_of_fans_against_bots() -> None:
    rates = win_rate_by_actor(fan_outcomes(LOG, {"f3"}))
    assert rates == [WinRate("fan", 3, 2), WinRate("bot", 3, 1)]
    assert [r.rate for r in rates] == [2 / 3, 1 / 3]


def test_win_rate_by_arrival_second() -> None:
    rates = win_rate_by_arrival(fan_outcomes(LOG, {"f3"}))
    assert rates == [
        ArrivalRate(-10, 1, fans=1, winners=1),  # f3
        ArrivalRate(-1, 1, fans=1, winners=1),  # b1
        ArrivalRate(0, 1, fans=2, winners=1),  # f1, f2
        ArrivalRate(1, 1, fans=2, winners=0),  # b2, b3
    ]
    assert [r.rate for r in rates] == [1.0, 1.0, 0.5, 0.0]


def test_wider_arrival_buckets() -> None:
    rates = win_rate_by_arrival(fan_outcomes(LOG, {"f3"}), width=2)
    assert [(r.start, r.fans, r.winners) for r in rates] == [(-10, 1, 1), (-2, 1, 1), (0, 4, 1)]


def test_a_fan_seen_as_a_bot_once_is_a_bot_and_other_actors_come_after() -> None:
    log = [
        line("x", "fan", 0, "claim", 409),
        line("x", "bot", 1, "claim", 409),
        line("x", "fan", 2, "claim", 201),
        line("y", "unknown", 0, "claim", 201),
        line("y", "fan", 1, "claim", 409),
        line("z", "fan", 0, "claim", 409),
        line("w", "robot", 0, "claim", 201),
    ]
    assert win_rate_by_actor(fan_outcomes(log)) == [
        WinRate("fan", 2, 1),  # y is a fan in one line, z in all
        WinRate("bot", 1, 1),
        WinRate("robot", 1, 1),
    ]


def test_no_answer_is_no_win_and_nothing_is_nan() -> None:
    assert [o.won for o in fan_outcomes([line("f", "fan", 0, "claim", 0)])] == [False]
    assert fan_outcomes([line(None, "fan", 0, "claim", 201)]) == []
    assert win_rate_by_actor([]) == []
    assert WinRate("fan", 0, 0).rate is None
