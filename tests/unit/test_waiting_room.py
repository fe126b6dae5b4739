"""The waiting room: a fair draw at opening, admission at a set rate, abandoned places
skipped, signed admission tokens, and views that stay fast with a large crowd."""

from __future__ import annotations

import gc
import hmac
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soldout.domain.errors import DomainError
from soldout.engine.waiting_room import (
    AdmissionRequired,
    RoomView,
    WaitingRoom,
    _hmac_sha256,
    verify_admission,
)

OPENS = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
KEY = b"s" * 32
SEED = b"launch-seed"
LONG = timedelta(hours=1)


def at(seconds: float) -> datetime:
    return OPENS + timedelta(seconds=seconds)


def room(rate: float = 1.0, seed: bytes = SEED, **options: object) -> WaitingRoom:
    return WaitingRoom("launch_1", OPENS, rate, seed, signer_key=KEY, **options)  # type: ignore[arg-type]


def order(r: WaitingRoom, fans: list[str], now: datetime) -> list[str]:
    """The fans waiting at `now`, front first (viewing them also marks them present)."""
    views = {f: r.view(f, now) for f in fans}
    waiting = [f for f in fans if views[f].state == "waiting"]
    return sorted(waiting, key=lambda f: views[f].position or 0)


def logged_room(**options: object) -> tuple[WaitingRoom, list[tuple[str, datetime]]]:
    """A room, and the list of (fan, when) it admits."""
    log: list[tuple[str, datetime]] = []
    r = room(**options, on_admit=lambda fan, when: log.append((fan, when)))  # type: ignore[arg-type]
    return r, log


FANS = [f"fan_{i}" for i in range(40)]


# -- the draw at opening ----------------------------------------------------------------


def test_the_draw_ignores_join_order_and_time() -> None:
    early, late = room(), room()
    for i, fan in enumerate(FANS):
        early.join(fan, at(-3600 + i))  # first come ...
    for i, fan in enumerate(reversed(FANS)):
        late.join(fan, at(-1 - i * 0.001))  # ... or last, in a rush, just before opening
    drawn = order(early, FANS, at(0))
    assert drawn == order(late, FANS, at(0))
    assert drawn == sorted(FANS, key=lambda f: hmac.digest(SEED, f.encode(), "sha256"))
    assert drawn not in (FANS, FANS[::-1])


def test_the_draw_is_fixed_by_the_seed() -> None:
    def drawn(seed: bytes) -> list[str]:
        r = room(seed=seed)
        for fan in FANS:
            r.join(fan, at(-5))
        return order(r, FANS, at(0))

    assert drawn(b"one") == drawn(b"one")
    assert drawn(b"one") != drawn(b"two")
    assert sorted(drawn(b"two")) == sorted(FANS)


def test_later_arrivals_queue_behind_in_arrival_order() -> None:
    r = room(rate=0.01)
    for fan in FANS[:10]:
        r.join(fan, at(-5))
    later = ["fan_z", "fan_a", "fan_m"]
    for i, fan in enumerate(later):
        r.join(fan, at(1 + i))
    queue = order(r, FANS[:10] + later, at(5))
    assert queue[-3:] == later
    assert [r.view(f, at(5)).position for f in later] == [11, 12, 13]


def test_before_opening_no_place_is_drawn_yet() -> None:
    r = room(rate=2.0)
    for fan in FANS[:11]:
        r.join(fan, at(-60))
    view = r.view("fan_3", at(-20))
    assert (view.state, view.position) == ("waiting", None)
    assert view.ahead == 5  # expected: half of the 10 others
    assert view.estimated_wait_seconds == pytest.approx(20 + 5 / 2.0)
    assert 2 <= view.poll_after_seconds <= 10
    assert r.size(at(-20)).waiting == 11


# -- admission at the rate --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "burst", "instants"),
    [
        (2.5, 3, [(-1, 0), (0, 3), (0.39, 3), (0.4, 4), (1, 5), (1.2, 6), (10, 28), (20, 53)]),
        (0.1, 0, [(0, 0), (9.999999, 0), (10, 1), (29.999999, 2), (30, 3), (95, 9)]),
        (7, 0, [(0.142857, 0), (0.142858, 1), (3, 21)]),
        (0.7, 0, [(29.999999, 20), (30, 21)]),  # 21 / 0.7 is 30.000000000000004 in floats
    ],
)
def test_admissions_follow_the_rate_exactly(
    rate: float, burst: int, instants: list[tuple[float, int]]
) -> None:
    r, log = logged_room(rate=rate, burst=burst, abandon_after=LONG)
    fans = [f"f{i}" for i in range(80)]
    for fan in fans:
        r.join(fan, at(-1))
    for seconds, expected in instants:
        assert r.size(at(seconds)).admitted_total == expected, seconds
    assert len(log) == instants[-1][1]
    drawn = sorted(fans, key=lambda f: hmac.digest(SEED, f.encode(), "sha256"))
    assert [fan for fan, _ in log] == drawn[: len(log)]  # the front of the queue, in order


def test_catching_up_does_not_depend_on_how_often_the_room_is_asked() -> None:
    def run(ask_often: bool) -> tuple[list[tuple[str, datetime]], int]:
        r, log = logged_room(rate=0.5)
        for fan in FANS[:20]:
            r.join(fan, at(-2))
        for step in range(120):
            now = at(step * 0.5)
            if step % 20 == 0:  # every 10 s the even fans say they are still here
                for fan in FANS[:20:2]:
                    r.join(fan, now)
            elif ask_often:
                r.size(now)
        return log, r.size(at(60)).abandoned_total

    seldom, often = run(ask_often=False), run(ask_often=True)
    assert seldom == often
    log, abandoned = seldom
    assert abandoned > 0  # odd fans whose turn came after they left were skipped ...
    assert len(log) + abandoned == 20  # ... and the queue went on without them


def test_positions_and_waits_shrink_as_time_passes() -> None:
    r = room(rate=2.0, abandon_after=LONG)
    for fan in FANS:
        r.join(fan, at(-1))
    last = order(r, FANS, at(0))[-1]
    views = [r.view(last, at(s)) for s in (0, 5, 10, 15, 19.5, 20)]
    assert [v.position for v in views] == [40, 30, 20, 10, 1, None]
    assert [v.ahead for v in views] == [39, 29, 19, 9, 0, 0]
    assert [v.estimated_wait_seconds for v in views] == [19.5, 14.5, 9.5, 4.5, 0, 0]
    polls = [v.poll_after_seconds for v in views[:-1]]
    assert all(2 <= p <= 10 for p in polls)
    assert polls == sorted(polls, reverse=True)
    assert polls[0] > polls[-1] == 2
    assert views[-1].state == "admitted"


# -- abandoned places -------------------------------------------------------------------


def test_an_abandoned_place_is_skipped_and_its_turn_goes_to_the_next_fan() -> None:
    r, log = logged_room(rate=0.02)  # one admission every 50 s
    for fan in ("gone", "b", "c"):
        r.join(fan, at(1))
    for s in range(10, 100, 10):
        r.view("b", at(s))
        r.view("c", at(s))
    assert log == [("b", at(50))]  # "gone" was last seen 49 s before its turn
    assert r.view("gone", at(95)).state == "not_in_room"
    size = r.size(at(95))
    assert (size.waiting, size.admitted, size.abandoned_total) == (1, 1, 1)
    assert r.view("c", at(99)).position == 1


def test_a_fan_who_comes_back_before_the_turn_keeps_the_place() -> None:
    r, log = logged_room(rate=0.02)
    r.join("back", at(0))
    r.view("back", at(45))  # away for 45 s, but its turn (50 s) has not come yet
    r.size(at(50))
    assert log == [("back", at(50))]


def test_a_fan_who_comes_back_after_the_turn_passed_must_join_again() -> None:
    r, log = logged_room(rate=0.02)
    r.join("late", at(0))
    r.join("next", at(0))
    r.view("next", at(40))
    view = r.view("late", at(55))  # its turn came at 50 s, 50 s after it was last seen
    assert view.state == "not_in_room"
    assert log == [("next", at(50))]


def test_rejoining_goes_to_the_back_and_joining_twice_changes_nothing() -> None:
    r = room(rate=0.02)
    for fan in ("gone", "b", "c"):
        r.join(fan, at(1))
    r.join("b", at(2))
    assert r.view("b", at(3)).position == 2
    for s in (20, 40):
        r.view("b", at(s))
        r.view("c", at(s))
    r.join("gone", at(60))
    assert r.view("c", at(60)).position == 1
    assert r.view("gone", at(60)).position == 2


# -- admission tokens -------------------------------------------------------------------


def admitted_view(ttl: timedelta = timedelta(seconds=120)) -> RoomView:
    r = room(rate=1.0, admission_ttl=ttl)
    r.join("fan_1", at(-1))
    view = r.view("fan_1", at(1.5))
    assert view.state == "admitted"
    return view


def test_a_token_admits_its_fan_to_its_launch_until_it_expires() -> None:
    view = admitted_view()
    token, expires_at = view.admission_token, view.admission_expires_at
    assert token is not None
    assert expires_at == at(1 + 120)  # admitted at 1 s
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)
    verify_admission(token, "fan_1", "launch_1", at(2), KEY)
    verify_admission(token, "fan_1", "launch_1", expires_at - timedelta(microseconds=1), KEY)
    refusals: dict[str, list[tuple[str | None, str, str, datetime, bytes]]] = {
        "admission_invalid": [
            (token, "fan_2", "launch_1", at(2), KEY),
            (token, "fan_1", "launch_2", at(2), KEY),
            (token, "fan_1", "launch_1", at(2), b"t" * 32),
        ],
        "admission_expired": [(token, "fan_1", "launch_1", expires_at, KEY)],
        "admission_required": [(None, "fan_1", "launch_1", at(2), KEY)],
    }
    for code, calls in refusals.items():
        for call in calls:
            with pytest.raises(AdmissionRequired) as refused:
                verify_admission(*call)
            assert refused.value.code == code
            assert isinstance(refused.value, DomainError)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(t[:3], str(int(t[:3]) + 1), 1),  # a later expiry
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:-2],
        lambda t: t.split(".")[0],
        lambda t: "." + t.split(".")[1],
        lambda t: "x" + t,
        lambda t: "١٢٣." + t.split(".")[1],  # non-ASCII digits
        lambda t: t + "é",
    ],
)
def test_a_tampered_token_is_refused(tamper: Callable[[str], str]) -> None:
    token = admitted_view().admission_token
    assert token is not None
    with pytest.raises(AdmissionRequired) as refused:
        verify_admission(tamper(token), "fan_1", "launch_1", at(2), KEY)
    assert refused.value.code == "admission_invalid"


def test_an_expired_admission_leaves_the_room() -> None:
    r = room(rate=1.0, admission_ttl=timedelta(seconds=20))
    r.join("fan_1", at(-1))
    assert r.view("fan_1", at(5)).state == "admitted"
    assert r.size(at(20.9)).admitted == 1
    assert r.size(at(21)).admitted == 0
    assert r.view("fan_1", at(21)).state == "not_in_room"
    r.join("fan_1", at(22))  # at the back of an empty queue, with admissions saved up
    assert r.view("fan_1", at(22)).state == "admitted"
    assert r.size(at(22)).admitted_total == 2


@pytest.mark.parametrize("key_length", [1, 32, 64, 65, 200])
def test_the_fast_hmac_is_hmac_sha256(key_length: int) -> None:
    key = bytes(i % 251 for i in range(key_length))
    for message in (b"", b"fan_1", b"x" * 1000):
        assert _hmac_sha256(key)(message) == hmac.digest(key, message, "sha256")


def test_a_fan_not_in_the_room() -> None:
    r = room()
    r.join("fan_1", at(-1))
    view = r.view("stranger", at(3))
    assert view == RoomView("not_in_room", None, 0, 0.0, 10.0)
    assert r.size(at(3)).waiting + r.size(at(3)).admitted == 1


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        WaitingRoom("l", OPENS.replace(tzinfo=None), 1.0, SEED, signer_key=KEY)
    with pytest.raises(ValueError, match="longest poll"):
        room(abandon_after=timedelta(seconds=10))
    with pytest.raises(ValueError, match="32 bytes"):
        WaitingRoom("l", OPENS, 1.0, SEED, signer_key=b"short")
    for rate in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="rate"):
            room(rate=rate)


def test_bank_limits_what_an_idle_room_saves_up() -> None:
    unbanked, banked = room(rate=1.0), room(rate=1.0, bank=2)
    for r in (unbanked, banked):
        for fan in FANS[:20]:
            r.join(fan, at(100))  # nobody came for 100 s
        r.size(at(100))
    assert unbanked.size(at(100)).admitted == 20
    assert banked.size(at(100)).admitted == 2
    assert banked.size(at(103)).admitted == 5


# -- a large crowd ----------------------------------------------------------------------


def test_positions_stay_right_after_the_front_of_a_large_queue_is_let_in() -> None:
    r = room(rate=10_000.0)
    fans = [f"fan_{i}" for i in range(150_000)]
    for fan in fans:
        r.join(fan, at(-1))
    r.join("late", at(0.5))
    assert r.size(at(10)).admitted_total == 100_000  # the queue was compacted on the way
    drawn = sorted(fans, key=lambda f: hmac.digest(SEED, f.encode(), "sha256"))
    for index in (100_000, 100_001, 123_456, 149_999):
        assert r.view(drawn[index], at(10)).position == index - 100_000 + 1
    assert r.view(drawn[99_999], at(10)).state == "admitted"
    assert r.view("late", at(10)).position == 50_001


def crowd_timings(n: int) -> tuple[float, float]:
    """Seconds per join and per view with `n` fans in the room (best of 5 rounds)."""
    r = room(rate=50.0)
    fans = [f"fan_{i}" for i in range(n)]
    gc.disable()  # its pauses grow with the heap, not with the room
    try:
        started = time.perf_counter()
        for fan in fans:
            r.join(fan, at(-1))
        per_join = (time.perf_counter() - started) / n
        r.size(at(0))  # the draw
        sample = fans[:: n // 2000]
        per_view = float("inf")
        for round_ in range(5):
            started = time.perf_counter()
            for fan in sample:
                r.view(fan, at(1 + round_))
            per_view = min(per_view, (time.perf_counter() - started) / len(sample))
    finally:
        gc.enable()
    return per_join, per_view


def test_joining_and_viewing_do_not_slow_down_with_the_crowd() -> None:
    join_10k, view_10k = crowd_timings(10_000)
    join_100k, view_100k = crowd_timings(100_000)
    assert max(view_100k, join_100k) < 200e-6  # measured: ~5 us and ~3 us
    assert view_100k < 5 * view_10k  # O(n) would be 10 times
    assert join_100k < 6 * join_10k


# -- random schedules -------------------------------------------------------------------

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(0, 7)),
        st.tuples(st.just("view"), st.integers(0, 7)),
        st.tuples(  # microseconds
            st.just("wait"),
            st.sampled_from([1, 99_999, 400_000, 1_000_000, 3_333_333, 7_000_000, 12_000_000]),
        ),
        st.tuples(st.just("size"), st.just(0)),
    ),
    min_size=30,
    max_size=150,
)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.sampled_from([0.05, 0.1, 0.3, 1.0, 2.5, 7.0]),
    burst=st.integers(0, 3),
    ttl_s=st.sampled_from([5, 40, 86_400]),
    start_s=st.integers(-30, 5),
    steps=STEPS,
)
def test_random_schedules_keep_admission_fair(
    rate: float, burst: int, ttl_s: int, start_s: int, steps: list[tuple[str, int]]
) -> None:
    abandon_us, ttl_us = 30_000_000, ttl_s * 1_000_000
    log: list[tuple[str, int]] = []
    r = WaitingRoom(
        "launch_1",
        OPENS,
        rate,
        SEED,
        signer_key=KEY,
        burst=burst,
        admission_ttl=timedelta(seconds=ttl_s),
        on_admit=lambda fan, when: log.append((fan, (when - OPENS) // timedelta(microseconds=1))),
    )

    def budget(us: int) -> int:
        return 0 if us < 0 else burst + math.floor(Fraction(str(rate)) * us / 1_000_000)

    seen: dict[str, int] = {}  # last join or view in the room, microseconds after opening
    joins: dict[str, list[int]] = {}
    now_us = start_s * 1_000_000
    for action, arg in steps:
        now = OPENS + timedelta(microseconds=now_us)
        fan = f"fan_{arg}"
        before, present = len(log), False
        if action == "wait":
            now_us += arg
        elif action == "size":
            size = r.size(now)
            if size.waiting:  # nobody waits while admissions are due
                assert size.admitted_total == budget(now_us)
        elif action == "join":
            r.join(fan, now)
            joins.setdefault(fan, []).append(now_us)
            present = True
        else:
            present = r.view(fan, now).state != "not_in_room"
        for count, (fan_in, when) in enumerate(log[before:], start=before + 1):
            assert 0 <= when <= now_us
            assert count <= budget(when)  # never more than the rate allows
            assert seen[fan_in] <= when <= seen[fan_in] + abandon_us  # and only who was here
        if present:
            seen[fan] = now_us
    assert [when for _, when in log] == sorted(when for _, when in log)
    admissions: dict[str, list[int]] = {}
    for fan, when in log:
        admissions.setdefault(fan, []).append(when)
    for fan, times in admissions.items():  # a second admission needs a new place
        for first, second in pairwise(times):
            assert any(first + ttl_us <= j <= second for j in joins[fan])


def test_arriving_early_or_often_buys_no_place_in_the_draw_over_many_seeds() -> None:
    """Ten fans join before the opening, fan_0 an hour early, fan_9 minutes before it;
    fan_3 joins again and again (a script hammering the room). Over 2,000 fixed seeds, each
    fan's place in the admission order is uniform: chi-square per fan over its ten possible
    places, 27.88 being p = 0.001 at 9 degrees of freedom."""
    fans = [f"fan_{i}" for i in range(10)]
    counts = {fan: [0] * len(fans) for fan in fans}
    for n in range(2000):
        order: list[str] = []
        r = room(
            1000.0,
            seed=f"seed-{n}".encode(),
            burst=len(fans),
            on_admit=lambda fan, when, order=order: order.append(fan),  # type: ignore[misc]
        )
        for i, fan in enumerate(fans):
            r.join(fan, at(-3600 + i * 399))
            if fan == "fan_3":
                for k in range(50):
                    r.join(fan, at(-3600 + i * 399 + k * 0.01))
        for fan in fans:
            r.view(fan, at(-1))  # each still polling when the room opens
        r.size(at(0.5))  # the opening has passed: all ten drawn and let in, in draw order
        assert sorted(order) == fans
        for place, fan in enumerate(order):
            counts[fan][place] += 1
    expected = 2000 / len(fans)
    for fan, places in counts.items():
        chi2 = sum((seen - expected) ** 2 / expected for seen in places)
        assert chi2 < 27.88, (fan, places)
    first_places = [counts[fan][0] for fan in fans]
    assert max(first_places) - min(first_places) < 80  # nobody is first much more often


# -- a room rebuilt by another process ---------------------------------------------------


class Journal:
    """What `services.gate` keeps of a room beyond its process (Redis, several workers):
    the places taken and not skipped, and how many admissions were told."""

    def __init__(self) -> None:
        self.places: list[tuple[str, datetime]] = []
        self.told: list[tuple[str, datetime]] = []

    def room(self, **options: object) -> WaitingRoom:
        r = room(
            **options,
            on_admit=lambda fan, when: self.told.append((fan, when)),  # type: ignore[arg-type]
            on_skip=lambda fan, joined: self.places.remove((fan, joined)),  # type: ignore[arg-type]
        )
        return r

    def join(self, r: WaitingRoom, fan: str, when: datetime) -> None:
        if r.join(fan, when):
            self.places.append((fan, when))


def tokens(r: WaitingRoom, fans: list[str], now: datetime) -> dict[str, str | int | None]:
    """Each fan's admission token, or place in the queue (viewing marks them present)."""
    views = {f: r.view(f, now) for f in fans}
    return {f: v.admission_token or v.position for f, v in views.items()}


def test_a_room_rebuilt_from_its_journal_lets_everyone_in_at_the_same_instants() -> None:
    """An owner's room, and the room a new owner rebuilds from its journal: the same
    order, the same admissions with the same tokens, the fans the first skipped left
    out (so they change no one's turn), and no admission told twice."""
    journal = Journal()
    first = journal.room(rate=0.5, burst=3, admission_ttl=LONG)
    for i, fan in enumerate(FANS[:20]):  # twenty before the opening, five after
        journal.join(first, fan, at(-20 + i))
    for i, fan in enumerate(FANS[20:25]):
        journal.join(first, fan, at(1 + i))
    present = FANS[:23]  # the last two to come stopped polling: their turn is skipped
    for t in range(0, 60, 5):
        tokens(first, present, at(t))  # the others poll every 5 s
    now = at(60)
    assert first.size(now).abandoned_total == 2
    assert [fan for fan, _ in journal.places] == FANS[:23]
    told = len(journal.told)
    second_told: list[tuple[str, datetime]] = []
    second = room(
        rate=0.5,
        burst=3,
        admission_ttl=LONG,
        on_admit=lambda fan, when: second_told.append((fan, when)),  # type: ignore[arg-type]
    )
    second.restore(list(reversed(journal.places)), now, told)  # (in any order: by time)
    assert tokens(second, present, now) == tokens(first, present, now)
    assert second_told == []  # every admission made again so far was told by the first
    journal.join(first, FANS[25], at(61))  # (the same newcomer in both rooms)
    second.join(FANS[25], at(61))
    later = at(90)
    assert tokens(second, FANS[:26], later) == tokens(first, FANS[:26], later)
    assert second_told == journal.told[told:]  # from then on, told once, as the first


def test_a_fan_back_after_their_admission_ended_has_both_places_replayed() -> None:
    journal = Journal()
    first = journal.room(rate=1.0, burst=1, admission_ttl=timedelta(seconds=40))
    for i, fan in enumerate(FANS[:6]):
        journal.join(first, fan, at(-5 + i / 2))
    for t in range(0, 50, 5):
        tokens(first, FANS[:6], at(t))  # all let in by 5 s; the first gone by 40 s
    journal.join(first, FANS[0], at(50))  # back after their admission ended: a new place
    journal.join(first, FANS[6], at(51))
    assert [fan for fan, _ in journal.places].count(FANS[0]) == 2
    second = room(rate=1.0, burst=1, admission_ttl=timedelta(seconds=40))
    second.restore(journal.places, at(52), len(journal.told))
    assert tokens(second, FANS[:7], at(52)) == tokens(first, FANS[:7], at(52))


def test_the_outage_makes_no_one_lose_their_turn() -> None:
    """Fans who could not poll while no owner served are counted as seen at the
    take-over: their places are kept, where 30 s unseen would otherwise skip them."""
    places = [(fan, at(-10)) for fan in FANS[:5]]
    unseen = room(rate=0.1)  # one every 10 s: at 10, 20 and 30 s after the opening
    for fan, joined in places:
        unseen.join(fan, joined)
    # the third turn came 40 s unseen: that fan and the two behind were skipped
    assert unseen.size(at(35)).abandoned_total == 3
    restored = room(rate=0.1)
    restored.restore(places, at(35), 0)
    views = [restored.view(f, at(35)) for f in FANS[:5]]
    assert restored.size(at(35)).abandoned_total == 0
    assert sum(v.state == "admitted" for v in views) == 3
    assert sorted(v.position for v in views if v.position is not None) == [1, 2]
