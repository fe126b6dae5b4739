"""The ideas board's pure rules: the hot ranking's time decay, the orders of the board,
a maker's moves, the batch split a launch form suggests, and contribution points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soldout.api.board_views import display_name
from soldout.domain.board import (
    HALF_LIFE,
    Comment,
    Idea,
    IdeaKind,
    IdeaStatus,
    check_move,
    hot,
    matches,
    ranked,
)
from soldout.domain.contribution import ContributionPolicy, contribution_points
from soldout.domain.errors import Conflict, InvalidInput
from soldout.domain.polls import Poll, PollOption, check_options, suggest_batch, tally
from soldout.store.rows_board import BoardPut, record_of

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def idea(key: str, *, age: timedelta = timedelta(0), **more: object) -> Idea:
    fields: dict[str, object] = {
        "id": key,
        "product_id": "prd_1",
        "fan_id": f"fan_{key}",
        "kind": IdeaKind.IDEA,
        "title": f"Idea {key}",
        "text": "",
        "category": "general",
        "created_at": NOW - age,
    }
    fields.update(more)
    return Idea(**fields)  # type: ignore[arg-type]


def test_a_vote_weighs_one_when_cast_and_half_each_half_life() -> None:
    assert hot([NOW], NOW) == 1.0
    assert hot([NOW - HALF_LIFE], NOW) == pytest.approx(0.5)
    assert hot([NOW - 2 * HALF_LIFE, NOW - 2 * HALF_LIFE], NOW) == pytest.approx(0.5)
    assert hot([NOW + DAY], NOW) == 1.0  # a clock's skew does not make a vote worth more
    assert hot([], NOW) == 0.0


def test_three_votes_today_beat_ten_a_month_ago() -> None:
    month_old = [NOW - 30 * DAY] * 10
    today = [NOW - timedelta(hours=1)] * 3
    assert hot(today, NOW) > hot(month_old, NOW)


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_hot_never_rises_as_time_passes(ages_in_hours: list[int]) -> None:
    votes = [NOW - timedelta(hours=h) for h in ages_in_hours]
    assert hot(votes, NOW + DAY) <= hot(votes, NOW)
    assert hot(votes, NOW) <= len(votes)


def test_the_three_orders_and_their_ties() -> None:
    old_popular = idea("a", age=30 * DAY)
    fresh = idea("b", age=DAY)
    newest = idea("c")
    votes = {
        "a": {f"f{i}": NOW - 30 * DAY for i in range(10)},
        "b": {f"f{i}": NOW - DAY for i in range(3)},
    }
    ideas = [old_popular, fresh, newest]
    assert [i.id for i in ranked(ideas, votes, "top", NOW)] == ["a", "b", "c"]
    assert [i.id for i in ranked(ideas, votes, "hot", NOW)] == ["b", "a", "c"]
    assert [i.id for i in ranked(ideas, votes, "new", NOW)] == ["c", "b", "a"]
    twins = [idea("y"), idea("x")]  # same votes, same time: by id, never wobbling
    assert [i.id for i in ranked(twins, {}, "top", NOW)] == ["x", "y"]
    with pytest.raises(InvalidInput) as refused:
        ranked(ideas, votes, "best", NOW)
    assert refused.value.field == "sort"


def test_search_needs_every_word_in_the_title_or_text() -> None:
    found = idea("a", title="Colour options", text="A **blue** one")
    assert matches(found, ["colour", "BLUE"])
    assert not matches(found, ["colour", "red"])
    assert matches(found, [])


def test_the_maker_moves_by_hand_and_ships_only_through_a_release() -> None:
    open_idea = idea("a")
    assert check_move(open_idea, "planned", "") is IdeaStatus.PLANNED
    for status, field in (("shipped", "status"), ("merged", "status"), ("done", "status")):
        with pytest.raises(InvalidInput) as refused:
            check_move(open_idea, status, "")
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as no_reason:
        check_move(open_idea, "declined", "  ")
    assert no_reason.value.field == "reason"
    with pytest.raises(Conflict):
        check_move(idea("s", status=IdeaStatus.SHIPPED), "open", "")


def test_the_split_sums_to_the_total_and_follows_the_demand() -> None:
    assert suggest_batch(300, {"BLK": 100, "WHT": 50}, {}) == {"BLK": 200, "WHT": 100}
    # answers count half a reservation: 100 + 0.5*100 = 150 against 50 + 0.5*300 = 200
    assert suggest_batch(350, {"BLK": 100, "WHT": 50}, {"BLK": 100, "WHT": 300}) == {
        "BLK": 150,
        "WHT": 200,
    }
    # reservations of no SKU follow the poll: A 4*3/4 + 0.5*3 = 4.5, B 4*1/4 + 0.5*1 = 1.5
    assert suggest_batch(12, {}, {"A": 3, "B": 1}, ["A", "B"], unassigned=4) == {"A": 9, "B": 3}
    # 7.5 against 2.5 of 10: the odd unit goes to the first by name when all else ties
    assert suggest_batch(10, {}, {"A": 3, "B": 1}, ["A", "B"], unassigned=4) == {"A": 8, "B": 2}
    # nothing seen: an even split, the odd unit by name
    assert suggest_batch(5, {}, {}, ["A", "B"]) == {"A": 3, "B": 2}
    assert suggest_batch(0, {"A": 5}, {}) == {"A": 0}
    with pytest.raises(InvalidInput) as refused:
        suggest_batch(-1, {}, {})
    assert refused.value.field == "total"


@given(
    st.integers(min_value=0, max_value=100_000),
    st.dictionaries(st.sampled_from("ABCDE"), st.integers(min_value=0, max_value=10_000)),
    st.dictionaries(st.sampled_from("ABCDE"), st.integers(min_value=0, max_value=10_000)),
    st.integers(min_value=0, max_value=10_000),
)
def test_the_split_always_sums_to_the_total_within_one_unit_of_its_share(
    total: int, reserved: dict[str, int], answers: dict[str, int], unassigned: int
) -> None:
    skus = list("ABCDE")
    split = suggest_batch(total, reserved, answers, skus, unassigned=unassigned)
    assert sum(split.values()) == total
    assert all(n >= 0 for n in split.values())
    assert set(split) == set(skus)
    if sum(reserved.values()) and not answers and not unassigned:
        whole = sum(reserved.values())
        for sku in skus:
            assert abs(split[sku] - total * reserved.get(sku, 0) / whole) < 1


def test_poll_options_and_the_tally_with_buyers_apart() -> None:
    options = check_options([{"label": "Black", "sku": "A"}, {"label": "White"}], ["A", "B"])
    assert options == (PollOption("1", "Black", "A"), PollOption("2", "White", None))
    for raw, field in (
        ([{"label": "x"}], "options"),
        ([{"label": "x", "sku": "Z"}, {"label": "y"}], "options[0].sku"),
        ([{"label": "x"}, {"label": "X"}], "options[1].label"),
        ([{"label": "x", "sku": "A"}, {"label": "y", "sku": "A"}], "options[1].sku"),
    ):
        with pytest.raises(InvalidInput) as refused:
            check_options(raw, ["A", "B"])
        assert refused.value.field == field
    poll = Poll("pol_1", "prd_1", "Which?", options, NOW)
    counted = tally(poll, {"f1": "1", "f2": "1", "f3": "2", "f4": "gone"}, {"f2", "f3"})
    assert [(t.answers, t.buyers) for t in counted] == [(2, 1), (1, 1)]
    with pytest.raises(Conflict) as closed:
        Poll("pol_2", "prd_1", "Q", options, NOW, closes_at=NOW).check_answer("1", NOW)
    assert closed.value.code == "poll_closed"


def test_points_come_from_what_others_found_worth_it() -> None:
    policy = ContributionPolicy(per_vote=1, votes_cap=3, per_shipped=20, per_useful=5)
    shipped = idea("a", fan_id="ann", status=IdeaStatus.SHIPPED)
    popular = idea("b", fan_id="ann")
    hidden = idea("c", fan_id="spam", hidden=True)
    votes = {
        "a": {"ann": NOW, "bob": NOW},  # her own vote earns nothing
        "b": {f"f{i}": NOW for i in range(10)},  # capped at 3
        "c": {f"f{i}": NOW for i in range(10)},
    }
    comments = [
        Comment("c1", "a", "bob", "try a clip", NOW, useful=True),
        Comment("c2", "a", None, "official", NOW, useful=True),
        Comment("c3", "a", "cat", "hidden", NOW, useful=True, hidden=True),
    ]
    points = contribution_points([shipped, popular, hidden], votes, comments, policy)
    assert points == {"ann": 1 + 20 + 3, "bob": 5}


def test_records_survive_their_row() -> None:
    poll = Poll("pol_1", "prd_1", "Which?", (PollOption("1", "Black", "A"),), NOW, NOW + DAY)
    shipped = idea("a", status=IdeaStatus.SHIPPED, release_id="rls_1")
    for record in (poll, shipped, Comment("c1", "a", None, "hi", NOW)):
        put = BoardPut(record, NOW)
        key, kind, _, body, _ = put.params()
        assert key == put.key
        assert record_of(str(kind), str(body)) == record


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ann de Vries", "Ann V."),
        ("Ann", "Ann"),
        ("李小龙", "李*"),  # family name first, no spaces: only it, and not the length
        ("山田太郎", "山*"),
        ("김민준", "김*"),
        ("𠮷田", "𠮷*"),  # an ideograph beyond the main block
        (None, "a fan"),
    ],
)
def test_a_fan_is_named_in_public_by_first_name_and_initial_only(
    name: str | None, shown: str
) -> None:
    assert display_name(name) == shown
