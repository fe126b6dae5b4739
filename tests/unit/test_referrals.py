from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soldout.domain.errors import InvalidInput
from soldout.domain.referrals import (
    DEFAULT_LEVELS,
    AttributionTree,
    Level,
    PointsLedger,
    ReferralPolicy,
    TopReferrer,
    check_levels,
    codes_owed,
    credit_paid_order,
    level_for,
    viral_figure,
)

# -- points ------------------------------------------------------------------------------


def test_crediting_the_same_order_twice_credits_once() -> None:
    ledger = PointsLedger()
    assert ledger.credit("ana", "o1", 10) is True
    assert ledger.credit("ana", "o1", 10) is False
    assert ledger.credit("bob", "o1", 10) is False  # first referrer wins
    assert (ledger.points("ana"), ledger.referred_paid_orders("ana")) == (10, 1)
    assert (ledger.points("bob"), ledger.referred_paid_orders("bob")) == (0, 0)


def test_debit_takes_back_once_and_ignores_unknown_orders() -> None:
    ledger = PointsLedger()
    ledger.credit("ana", "o1", 10)
    ledger.credit("ana", "o2", 10)
    assert ledger.debit("nope") == 0
    assert ledger.debit("o1") == 10
    assert ledger.debit("o1") == 0
    assert (ledger.points("ana"), ledger.referred_paid_orders("ana")) == (10, 1)


def test_a_refunded_order_is_not_credited_again_by_a_replayed_payment() -> None:
    ledger = PointsLedger()
    ledger.credit("ana", "o1", 10)
    ledger.debit("o1")
    assert ledger.credit("ana", "o1", 10) is False
    assert ledger.points("ana") == 0
    assert ledger.referrers() == frozenset()


def test_only_the_direct_referrer_earns() -> None:
    ledger, policy = PointsLedger(), ReferralPolicy(points_per_paid_order=7)
    # carol was referred by bob, bob by ana: carol's order pays bob only.
    assert credit_paid_order(ledger, policy, order_id="o1", referred_by="bob") is True
    assert credit_paid_order(ledger, policy, order_id="o2", referred_by=None) is False
    assert (ledger.points("bob"), ledger.points("ana")) == (7, 0)


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("credit"), st.sampled_from("abc"), st.integers(0, 15)),
            st.tuples(st.just("debit"), st.just(""), st.integers(0, 20)),
        ),
        max_size=60,
    ),
    st.integers(0, 50),
)
def test_points_are_always_points_per_order_times_live_referred_orders(
    steps: list[tuple[str, str, int]], per_order: int
) -> None:
    ledger = PointsLedger()
    live: dict[str, str] = {}
    refunded: set[str] = set()
    for action, referrer, n in steps:
        order_id = f"o{n}"
        if action == "credit":
            ledger.credit(referrer, order_id, per_order)
            if order_id not in live and order_id not in refunded:
                live[order_id] = referrer
        else:
            ledger.debit(order_id)
            if live.pop(order_id, None) is not None:
                refunded.add(order_id)
    expected = Counter(live.values())
    for fan in "abc":
        assert ledger.referred_paid_orders(fan) == expected[fan]
        assert ledger.points(fan) == per_order * expected[fan]


# -- levels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "name", "rank", "points_from", "next_at"),
    [
        (0, "fan", 0, 0, 10),
        (9, "fan", 0, 0, 10),
        (10, "friend", 1, 10, 50),
        (49, "friend", 1, 10, 50),
        (50, "insider", 2, 50, 200),
        (199, "insider", 2, 50, 200),
        (200, "veteran", 3, 200, None),
        (10**9, "veteran", 3, 200, None),
    ],
)
def test_level_boundaries(
    points: int, name: str, rank: int, points_from: int, next_at: int | None
) -> None:
    assert level_for(points) == Level(name, rank, points_from, next_at)


@pytest.mark.parametrize(
    "levels",
    [
        (),
        ((5, "fan"),),
        ((0, "fan"), (10, "friend"), (10, "insider")),
        ((0, "fan"), (20, "friend"), (10, "insider")),
        ((0, "fan"), (10, "fan")),
        ((0, ""),),
    ],
)
def test_levels_must_start_at_zero_and_rise_strictly(
    levels: tuple[tuple[int, str], ...],
) -> None:
    with pytest.raises(InvalidInput) as err:
        check_levels(levels)
    assert err.value.field == "levels"
    with pytest.raises(InvalidInput) as err:
        ReferralPolicy(levels=levels)
    assert err.value.field == "levels"


def test_negative_points_have_no_level() -> None:
    with pytest.raises(InvalidInput) as err:
        level_for(-1)
    assert err.value.field == "points"


# -- codes -------------------------------------------------------------------------------


def test_codes_owed_over_paid_orders_and_refunds() -> None:
    policy = ReferralPolicy(points_per_paid_order=10, code_every_n_orders=3)
    ledger = PointsLedger()
    granted = 0

    def pay(order_id: str) -> None:
        ledger.credit("ana", order_id, policy.points_per_paid_order)

    def grant() -> int:
        nonlocal granted
        points = ledger.points("ana")
        owed = codes_owed(
            policy, ledger.referred_paid_orders("ana"), level_for(points, policy.levels), granted
        )
        granted += owed
        return owed

    for i in range(2):
        pay(f"o{i}")
    assert grant() == 0
    pay("o2")
    assert (grant(), grant()) == (1, 0)  # granted once, not again on a second look
    ledger.debit("o2")
    ledger.debit("o1")
    assert grant() == 0  # refunds do not claw back the code...
    assert granted == 1
    for i in range(3, 6):
        pay(f"o{i}")
    assert ledger.referred_paid_orders("ana") == 4
    assert grant() == 0  # ...but nothing accrues until the live count is back past 3 per code
    pay("o6")
    pay("o7")
    assert ledger.referred_paid_orders("ana") == 6
    assert grant() == 1
    assert granted == 2


def test_refunds_never_make_codes_owed_negative() -> None:
    policy = ReferralPolicy(code_every_n_orders=5)
    assert codes_owed(policy, 0, level_for(0), already_granted=4) == 0


def test_a_level_code_is_granted_once_on_reaching_the_level() -> None:
    policy = ReferralPolicy(
        points_per_paid_order=10, code_every_n_orders=None, code_at_level="insider"
    )
    assert codes_owed(policy, 4, level_for(40), already_granted=0) == 0
    assert codes_owed(policy, 5, level_for(50), already_granted=0) == 1
    assert codes_owed(policy, 5, level_for(50), already_granted=1) == 0
    assert (
        codes_owed(policy, 30, level_for(300), already_granted=1) == 0
    )  # higher level: still once


def test_level_code_counts_in_addition_to_order_codes() -> None:
    policy = ReferralPolicy(
        points_per_paid_order=10, code_every_n_orders=5, code_at_level="insider"
    )
    assert codes_owed(policy, 4, level_for(40), already_granted=0) == 0
    assert codes_owed(policy, 5, level_for(50), already_granted=0) == 2
    assert codes_owed(policy, 10, level_for(100), already_granted=2) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"points_per_paid_order": -1}, "points_per_paid_order"),
        ({"points_per_paid_order": True}, "points_per_paid_order"),
        ({"points_per_paid_order": 10**6}, "points_per_paid_order"),
        ({"code_every_n_orders": 0}, "code_every_n_orders"),
        ({"code_every_n_orders": 2.5}, "code_every_n_orders"),
        ({"code_at_level": "legend"}, "code_at_level"),
        ({"code_at_level": "fan"}, "code_at_level"),
    ],
)
def test_policy_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ReferralPolicy(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: codes_owed(ReferralPolicy(), -1, level_for(0), 0), "referred_paid_orders"),
        (lambda: codes_owed(ReferralPolicy(), 0, level_for(0), -1), "already_granted"),
        (lambda: PointsLedger().credit("", "o1", 10), "referrer_id"),
        (lambda: PointsLedger().credit("ana", "", 10), "order_id"),
        (lambda: PointsLedger().credit("ana", "o1", -10), "points"),
        (lambda: AttributionTree.build([]).subtree("a", -1), "max_depth"),
        (lambda: AttributionTree.build([]).top_referrers({}, -1), "n"),
    ],
)
def test_other_validation_names_the_field(call: object, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        call()  # type: ignore[operator]
    assert err.value.field == field


# -- attribution -------------------------------------------------------------------------

#   ana ── bob ── dan ── eve
#     └── cat
#   fay (nobody)
PAIRS = [
    ("ana", None),
    ("bob", "ana"),
    ("cat", "ana"),
    ("dan", "bob"),
    ("eve", "dan"),
    ("fay", None),
]


def test_attribution_tree_children_depth_and_descendants() -> None:
    tree = AttributionTree.build(PAIRS)
    assert tree.children("ana") == ("bob", "cat")
    assert tree.referrer_of("dan") == "bob"
    assert [tree.depth(f) for f in ("ana", "bob", "dan", "eve", "fay")] == [0, 1, 2, 3, 0]
    assert tree.descendants("ana") == ["bob", "cat", "dan", "eve"]
    assert tree.descendants("dan") == ["eve"]
    assert tree.descendants("fay") == []
    assert tree.descendants("unknown") == []


def test_subtree_stops_at_max_depth_but_still_counts_referrals() -> None:
    tree = AttributionTree.build(PAIRS)
    assert tree.subtree("ana", 1) == {
        "fan_id": "ana",
        "direct_referrals": 2,
        "children": [
            {"fan_id": "bob", "direct_referrals": 1, "children": []},
            {"fan_id": "cat", "direct_referrals": 0, "children": []},
        ],
    }
    assert tree.subtree("ana", 0)["children"] == []
    assert tree.subtree("dan", 5) == {
        "fan_id": "dan",
        "direct_referrals": 1,
        "children": [{"fan_id": "eve", "direct_referrals": 0, "children": []}],
    }


@pytest.mark.timeout(5)
def test_a_cycle_in_malformed_pairs_does_not_loop_forever() -> None:
    tree = AttributionTree.build(
        [("a", "c"), ("b", "a"), ("c", "b"), ("d", "c"), ("s", "s"), ("a", "d")]
    )
    assert tree.referrer_of("a") == "c"  # a fan listed twice keeps its first referrer
    assert tree.referrer_of("s") is None  # nobody refers themselves
    assert sorted(tree.descendants("a")) == ["b", "c", "d"]
    assert tree.depth("a") == 2
    assert tree.depth("d") == 3
    sub = tree.subtree("a", 100)
    assert sub["children"][0]["fan_id"] == "b"
    assert sub["children"][0]["children"][0]["fan_id"] == "c"
    assert [n["fan_id"] for n in sub["children"][0]["children"][0]["children"]] == ["d"]


def test_top_referrers_by_paid_orders_then_points_then_id() -> None:
    tree = AttributionTree.build([*PAIRS, ("gus", "fay"), ("hal", "fay"), ("ivy", "cat")])
    counts = {"ana": (3, 30), "bob": (3, 40), "cat": (5, 10), "fay": (3, 30)}
    assert tree.top_referrers(counts, 10) == [
        TopReferrer("cat", 1, 5, 10),
        TopReferrer("bob", 1, 3, 40),
        TopReferrer("ana", 2, 3, 30),
        TopReferrer("fay", 2, 3, 30),
        TopReferrer("dan", 1, 0, 0),
    ]
    assert [r.fan_id for r in tree.top_referrers(counts, 2)] == ["cat", "bob"]
    assert tree.top_referrers(counts, 0) == []


def test_top_referrers_from_a_ledger() -> None:
    tree = AttributionTree.build(PAIRS)
    ledger = PointsLedger()
    ledger.credit("bob", "o1", 10)
    ledger.credit("bob", "o2", 10)
    ledger.credit("ana", "o3", 10)
    ledger.debit("o2")
    assert tree.top_referrers(ledger, 3) == [
        ("ana", 2, 1, 10),
        ("bob", 1, 1, 10),
        ("dan", 1, 0, 0),
    ]


# -- viral figure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "via", "figure"),
    [(0, 0, None), (1, 0, 0.0), (4, 4, 1.0), (3, 1, 0.3333), (3, 2, 0.6667), (8, 1, 0.125)],
)
def test_viral_figure(total: int, via: int, figure: float | None) -> None:
    assert viral_figure(total, via) == figure


@pytest.mark.parametrize(
    ("total", "via", "field"),
    [
        (-1, 0, "paid_orders_total"),
        (1, -1, "paid_orders_via_referral"),
        (1, 2, "paid_orders_via_referral"),
    ],
)
def test_viral_figure_rejects_impossible_counts(total: int, via: int, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        viral_figure(total, via)
    assert err.value.field == field


def test_default_levels_are_valid() -> None:
    check_levels(DEFAULT_LEVELS)
