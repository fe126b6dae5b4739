"""Bot defence: proof of work, token-bucket rate limits, duplicate-buyer detection."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soldout.api.errors import status_for
from soldout.domain.duplicates import (
    DuplicateIndex,
    DuplicateRule,
    normalise_address,
    normalise_phone,
)
from soldout.domain.errors import DomainError
from soldout.domain.pow import (
    Challenge,
    PowRejected,
    ProofOfWork,
    leading_zero_bits,
    solve,
)
from soldout.services.ratelimit import TokenBuckets

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
SECRET = b"s" * 32
BITS = 8


def pow_(bits: int = BITS, ttl: float = 60) -> ProofOfWork:
    return ProofOfWork(SECRET, difficulty_bits=bits, ttl_seconds=ttl)


def solved(pow: ProofOfWork, fan: str = "fan_1", launch: str = "lau_1") -> tuple[str, str]:
    challenge = pow.issue(fan, launch, T0)
    return challenge.token, solve(challenge.token, challenge.difficulty)


def rejected(pow: ProofOfWork, token: str | None, nonce: str | None, **kw: object) -> str:
    args: dict[str, object] = {"fan_id": "fan_1", "launch_id": "lau_1", "now": T0} | kw
    with pytest.raises(PowRejected) as caught:
        pow.check(token, nonce, **args)  # type: ignore[arg-type]
    return caught.value.code


def unsolving_nonce(token: str, difficulty: int) -> str:
    return next(
        str(n)
        for n in range(10_000)
        if leading_zero_bits(hashlib.sha256(f"{token}:{n}".encode()).digest()) < difficulty
    )


# --- proof of work -----------------------------------------------------------------------


def test_a_challenge_is_url_safe_signed_and_carries_its_terms() -> None:
    challenge = pow_(bits=12, ttl=90).issue("fan_1", "lau_1", T0)
    assert challenge == Challenge(challenge.token, 12, T0 + timedelta(seconds=90))
    assert set(challenge.token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    )
    assert challenge.token != pow_().issue("fan_1", "lau_1", T0).token  # 16 random bytes


def test_solve_finds_a_nonce_with_enough_leading_zero_bits() -> None:
    token = pow_().issue("fan_1", "lau_1", T0).token
    nonce = solve(token, 12)
    assert nonce.isdigit()
    assert leading_zero_bits(hashlib.sha256(f"{token}:{nonce}".encode()).digest()) >= 12


def test_leading_zero_bits() -> None:
    assert leading_zero_bits(b"\x00\x00\xff") == 16
    assert leading_zero_bits(b"\x00\x01") == 15
    assert leading_zero_bits(b"\x80") == 0
    assert leading_zero_bits(b"\x00") == 8


def test_a_genuine_solution_passes_once_then_is_refused_as_reused() -> None:
    pow = pow_()
    token, nonce = solved(pow)
    pow.check(token, nonce, "fan_1", "lau_1", T0 + timedelta(seconds=59))
    assert rejected(pow, token, nonce) == "pow_reused"
    assert rejected(pow, token, nonce, now=T0 + timedelta(seconds=30)) == "pow_reused"


def test_a_proof_given_back_after_its_claim_was_refused_passes_again_once() -> None:
    """Several processes selling together: a claim refused after the owner's gate spent
    its proof (Redis said sold out) gives the proof back, as one process never spent it."""
    pow = pow_()
    token, nonce = solved(pow)
    spent = pow.check(token, nonce, "fan_1", "lau_1", T0)
    pow.give_back(spent)
    assert pow.check(token, nonce, "fan_1", "lau_1", T0) == spent
    assert rejected(pow, token, nonce) == "pow_reused"


def test_a_token_solved_for_another_fan_or_launch_is_refused() -> None:
    pow = pow_()
    token, nonce = solved(pow, fan="fan_1", launch="lau_1")
    assert rejected(pow, token, nonce, fan_id="fan_2") == "pow_invalid"
    assert rejected(pow, token, nonce, launch_id="lau_2") == "pow_invalid"
    # the binding is not fooled by moving characters between fan and launch ids
    assert rejected(pow, token, nonce, fan_id="fan_1l", launch_id="au_1") == "pow_invalid"
    pow.check(token, nonce, "fan_1", "lau_1", T0)  # refusals did not spend it


def test_an_expired_challenge_is_refused() -> None:
    pow = pow_(ttl=60)
    token, nonce = solved(pow)
    assert rejected(pow, token, nonce, now=T0 + timedelta(seconds=60)) == "pow_expired"


def test_another_secret_or_a_tampered_token_is_refused() -> None:
    pow = pow_()
    token, nonce = solved(pow)
    other = ProofOfWork(b"t" * 32, difficulty_bits=BITS, ttl_seconds=60)
    assert rejected(other, token, nonce) == "pow_invalid"
    payload, mac = token.split(".")
    for i in range(len(payload)):
        flipped = "A" if payload[i] != "A" else "B"
        forged = f"{payload[:i]}{flipped}{payload[i + 1 :]}.{mac}"
        assert rejected(pow, forged, solve(forged, BITS)) == "pow_invalid"
    assert rejected(pow, f"{payload}.{mac[:-2]}", nonce) == "pow_invalid"


def test_only_the_canonical_encoding_of_a_token_is_accepted() -> None:
    pow = pow_()
    token = pow.issue("fan_1", "lau_1", T0).token
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last character of the MAC (32 bytes) has two unused low bits: flipping one
    # decodes to the same bytes, so without this rule a token could be re-spelt
    twin = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert twin != token
    assert rejected(pow, twin, solve(twin, BITS)) == "pow_invalid"
    pow.check(token, solve(token, BITS), "fan_1", "lau_1", T0)


def test_the_difficulty_is_signed_into_the_token() -> None:
    pow = pow_(bits=16)
    weak = pow_(bits=1)  # same secret, different difficulty: signed into the token
    token = weak.issue("fan_1", "lau_1", T0).token
    pow.check(token, solve(token, 1), "fan_1", "lau_1", T0)  # the token's own terms hold
    strong = pow.issue("fan_1", "lau_1", T0).token
    assert rejected(pow, strong, unsolving_nonce(strong, 16)) == "pow_invalid"


def test_too_few_zero_bits_are_refused() -> None:
    pow = pow_(bits=12)
    token = pow.issue("fan_1", "lau_1", T0).token
    assert rejected(pow, token, unsolving_nonce(token, 12)) == "pow_invalid"


@pytest.mark.parametrize(
    ("token", "nonce", "code"),
    [
        (None, "1", "pow_required"),
        ("", "1", "pow_required"),
        ("x.y", None, "pow_required"),
        ("x.y", "", "pow_required"),
        ("x.y", "-1", "pow_invalid"),
        ("x.y", "1.5", "pow_invalid"),
        ("x.y", "١٢", "pow_invalid"),  # Arabic-Indic digits are not decimal ASCII
        ("x.y", "1" * 21, "pow_invalid"),
        ("garbage", "1", "pow_invalid"),
        ("a.b.c", "1", "pow_invalid"),
        ("A.B", "1", "pow_invalid"),  # base64 of impossible length
        ("AAAA.AAAA", "1", "pow_invalid"),
        ("é.é", "1", "pow_invalid"),
        ("A" * 5000 + ".A", "1", "pow_invalid"),
    ],
)
def test_malformed_input_is_refused_with_a_code(
    token: str | None, nonce: str | None, code: str
) -> None:
    assert rejected(pow_(), token, nonce) == code


@settings(max_examples=300, deadline=None)
@given(
    token=st.text(max_size=300)
    | st.from_regex(r"[A-Za-z0-9_-]{1,150}\.[A-Za-z0-9_-]{1,60}", fullmatch=True),
    nonce=st.text(max_size=30) | st.from_regex(r"[0-9]{1,20}", fullmatch=True),
)
def test_any_string_is_refused_with_pow_rejected_only(token: str, nonce: str) -> None:
    with pytest.raises(PowRejected):
        pow_().check(token, nonce, "fan_1", "lau_1", T0)


@settings(max_examples=100, deadline=None)
@given(
    fan=st.text(min_size=1, max_size=40), launch=st.text(max_size=40), nonce=st.text(max_size=30)
)
def test_a_genuine_token_with_any_ids_or_nonce_never_leaks_another_exception(
    fan: str, launch: str, nonce: str
) -> None:
    pow = pow_(bits=4)
    token = pow.issue("fan_1", "lau_1", T0).token
    with contextlib.suppress(PowRejected):
        pow.check(token, nonce, fan, launch, T0)


def test_spent_tokens_are_forgotten_once_expired() -> None:
    pow = pow_(bits=1, ttl=10)
    for i in range(50):
        challenge = pow.issue("fan_1", "lau_1", T0 + timedelta(seconds=i))
        pow.check(
            challenge.token, solve(challenge.token, 1), "fan_1", "lau_1", T0 + timedelta(seconds=i)
        )
        assert pow.spent_count <= 11
    assert pow.spent_count <= 11


def test_pow_rejected_is_a_403_domain_error() -> None:
    error = PowRejected("pow_expired", "expired")
    assert isinstance(error, DomainError)
    assert (error.code, error.field, status_for(error)) == ("pow_expired", "pow_token", 403)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short", "difficulty_bits": 8, "ttl_seconds": 1},
        {"secret": SECRET, "difficulty_bits": 65, "ttl_seconds": 1},
        {"secret": SECRET, "difficulty_bits": -1, "ttl_seconds": 1},
        {"secret": SECRET, "difficulty_bits": 8, "ttl_seconds": 0},
    ],
)
def test_proof_of_work_refuses_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        ProofOfWork(**kwargs)  # type: ignore[arg-type]


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        pow_().issue("fan_1", "lau_1", datetime(2030, 1, 1))


# --- rate limits -------------------------------------------------------------------------


def test_a_burst_is_allowed_then_refused_with_the_time_to_the_next_token() -> None:
    buckets = TokenBuckets(rate_per_second=2, burst=3)
    assert [buckets.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 100.0) == pytest.approx(0.5)
    assert buckets.take("a", 100.2) == pytest.approx(0.3)


def test_buckets_refill_over_time_up_to_the_burst() -> None:
    buckets = TokenBuckets(rate_per_second=1, burst=2)
    for _ in range(2):
        buckets.take("a", 0.0)
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("a", 1.0) == 0.0
    assert buckets.take("a", 1.0) == pytest.approx(1.0)
    assert [buckets.take("a", 1000.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_waiting_the_retry_after_is_enough() -> None:
    buckets = TokenBuckets(rate_per_second=3, burst=1)
    now = 5.0
    for _ in range(100):
        assert buckets.take("a", now) == 0.0
        wait = buckets.take("a", now)
        assert wait > 0
        now += wait + 1e-9


def test_refused_takes_do_not_consume() -> None:
    buckets = TokenBuckets(rate_per_second=1, burst=1)
    buckets.take("a", 0.0)
    for _ in range(100):
        buckets.take("a", 0.5)
    assert buckets.take("a", 1.0) == 0.0


def test_keys_are_independent() -> None:
    buckets = TokenBuckets(rate_per_second=1, burst=1)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.take("a", 0.0) > 0
    assert buckets.take("b", 0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=1e-3, max_value=1e6),
    burst=st.integers(min_value=1, max_value=2000),
    now=st.floats(min_value=0, max_value=1e8),
)
def test_exactly_burst_takes_pass_at_one_instant(rate: float, burst: int, now: float) -> None:
    buckets = TokenBuckets(rate, burst)
    assert all(buckets.take("k", now) == 0.0 for _ in range(burst))
    assert buckets.take("k", now) == pytest.approx(1 / rate, rel=1e-3, abs=1e-9)


def test_memory_is_bounded_and_full_buckets_go_first() -> None:
    buckets = TokenBuckets(rate_per_second=1, burst=5, max_keys=100)
    for i in range(10_000):
        buckets.take(f"k{i}", float(i))  # each bucket is full again 1 s after its take
        assert len(buckets) <= 100
    assert len(buckets) <= 100


def test_over_the_bound_the_least_recently_used_go_first() -> None:
    buckets = TokenBuckets(rate_per_second=0.001, burst=1, max_keys=8)
    buckets.take("hot", 0.0)
    for i in range(20):
        buckets.take(f"k{i}", 0.0)
        assert buckets.take("hot", 0.0) > 0  # used again: stays, still empty
        assert len(buckets) <= 8
    assert buckets.take("k0", 0.0) == 0.0  # forgotten: starts again with a full bucket


def test_token_buckets_refuse_bad_settings() -> None:
    for args in [(0, 1), (1, 0), (1, 1, 0)]:
        with pytest.raises(ValueError):  # noqa: PT011
            TokenBuckets(*args)


# --- duplicate buyers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "12 Main Street, Apartment 4",
        "12 main st. apt. 4",
        "12 MAIN ST #4",
        "  12  Main   St,  Apt #4 ",
        "12 Main Street Unit 4",
        "12 Main Str., Flat No. 4",
    ],
)
def test_address_variants_normalise_alike(variant: str) -> None:
    assert normalise_address(variant) == "12 main st apt 4"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rue de l'Église 3", "rue de l eglise 3"),
        ("Hauptstraße 5", "hauptstrasse 5"),
        ("4B Baker Street", "4 b baker st"),
        ("4-b baker st", "4 b baker st"),
        ("\uff11\uff12 \uff2dain \uff21venue", "12 main ave"),  # full-width
        ("  ,. ", ""),
        ("", ""),
    ],
)
def test_address_normalisation(text: str, expected: str) -> None:
    assert normalise_address(text) == expected


def test_different_addresses_stay_different() -> None:
    assert normalise_address("12 Main St Apt 4") != normalise_address("12 Main St Apt 5")
    assert normalise_address("12 Main St") != normalise_address("12 Main Ave")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946-0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("(020) 7946.0958", "02079460958"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("+1 555 123 4567 ext. 89", "+15551234567"),
        ("555-123-4567 x89", "5551234567"),
        ("+\uff14\uff14 \uff12\uff10", "+4420"),  # full-width digits
        ("n/a", ""),
        ("", ""),
    ],
)
def test_phone_normalisation(text: str, expected: str) -> None:
    assert normalise_phone(text) == expected


@given(st.text(max_size=60))
def test_normalisation_is_total_and_idempotent(text: str) -> None:
    address, phone = normalise_address(text), normalise_phone(text)
    assert normalise_address(address) == address
    assert normalise_phone(phone) == phone
    assert phone == "" or (phone.lstrip("+").isascii() and phone.lstrip("+").isdigit())


def test_fans_beyond_the_limit_at_one_address_are_all_flagged() -> None:
    index = DuplicateIndex(limit=2)
    assert index.add("f1", "12 Main Street, Apt 4", None) == []
    assert index.add("f2", "12 main st apt 4", None) == []
    assert not index.flagged("f1")
    assert index.add("f3", "12 MAIN ST #4", None) == ["f1", "f2", "f3"]
    assert all(index.flagged(f) for f in ("f1", "f2", "f3"))
    assert index.add("f4", "12 Main St Apt 4", None) == ["f1", "f2", "f3", "f4"]
    assert index.add("f5", "9 Elm Road", None) == []
    assert not index.flagged("f5")


def test_a_shared_phone_counts_like_a_shared_address() -> None:
    index = DuplicateIndex(limit=1)
    assert index.add("f1", "1 A St", "+44 20 7946 0958") == []
    assert index.add("f2", "2 B St", "0044 (0)20 7946 0958") == ["f1", "f2"]


def test_the_same_fan_counts_once_per_address_but_every_address_counts() -> None:
    index = DuplicateIndex(limit=1)
    assert index.add("f1", "1 A St", None) == []
    assert index.add("f1", "1 A Street", None) == []
    assert index.add("f1", "2 B St", None) == []
    assert index.add("f2", "2 B Street", None) == ["f1", "f2"]


def test_a_fan_who_moves_counts_only_at_the_new_address() -> None:
    index = DuplicateIndex(limit=2)
    for fan in ("f1", "f2", "f3"):
        index.add(fan, "12 Main Street, Apt 4", None)
    assert all(index.flagged(f) for f in ("f1", "f2", "f3"))
    assert index.replace("f3", "9 Elm Road", None) == []  # a typo fixed, or a move
    assert not any(index.flagged(f) for f in ("f1", "f2", "f3"))
    assert index.group_of("f1") == {"f1", "f2"}
    assert index.replace("f3", "12 MAIN ST #4", None) == ["f1", "f2", "f3"]  # back again
    index.remove("f2")
    assert not index.flagged("f1")
    assert index.group_of("f2") == set()


def test_missing_and_placeholder_contacts_group_nobody() -> None:
    index = DuplicateIndex(limit=1)
    for fan in ("f1", "f2", "f3"):
        assert index.add(fan, None, None) == []
        assert index.add(fan, " - ", "n/a") == []
        assert index.add(fan, "", "0") == []
    assert index.group_of("f1") == {"f1"}


def test_groups_are_the_fans_sharing_an_address_or_a_phone() -> None:
    index = DuplicateIndex(limit=5)
    index.add("f1", "1 A St", "555 123 4567")
    index.add("f2", "1 A Street", None)
    index.add("f3", "3 C St", "555-123-4567")
    index.add("f4", "3 C St", None)  # shares with f3, not with f1
    index.add("f5", "5 E St", None)
    assert index.group_of("f1") == {"f1", "f2", "f3"}
    assert index.group_of("f3") == {"f1", "f3", "f4"}
    assert index.group_of("f5") == {"f5"}
    assert index.group_of("never") == set()
    assert not any(index.flagged(f) for f in ("f1", "f2", "f3", "f4", "f5", "never"))


def test_duplicate_index_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="limit"):
        DuplicateIndex(limit=0)


def test_duplicate_rules() -> None:
    assert [rule.value for rule in DuplicateRule] == ["allow", "hold", "cancel"]
    assert DuplicateRule("hold") is DuplicateRule.HOLD
    assert "review" in (DuplicateRule.__doc__ or "")
