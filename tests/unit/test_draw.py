"""The verifiable draw: deterministic, fair, and checkable by anyone from the published document."""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soldout.domain.draw import (
    ALGORITHM,
    SEED_BYTES,
    DrawResult,
    Entry,
    commitment,
    draw,
    new_seed,
    publication,
    ticket,
)
from soldout.domain.draw_check import verify
from soldout.domain.errors import InvalidInput
from soldout.draw_verify import verify_source

SEED = hashlib.sha256(b"a fixed seed").digest()
UNITS = {"A": 3, "B": 1}
ENTRIES = [
    *(Entry(f"res_a{i:02d}", f"fan_a{i}", "A") for i in range(8)),
    *(Entry(f"res_b{i:02d}", f"fan_b{i}", "B") for i in range(4)),
]


def seeds(n: int) -> list[bytes]:
    """Fixed seeds: the statistical tests below give the same numbers on every run."""
    return [hashlib.sha256(f"seed {i}".encode()).digest() for i in range(n)]


def ids(entries: tuple[Entry, ...]) -> list[str]:
    return [e.reservation_id for e in entries]


def document(
    seed: bytes = SEED, entries: list[Entry] = ENTRIES, units: dict[str, int] = UNITS
) -> dict[str, Any]:
    result = draw(seed, entries, units)
    return publication("lau_1", commitment(seed), seed, entries, result, units=units)


# -- the draw -----------------------------------------------------------------------------


def test_seed_and_commitment() -> None:
    seed = new_seed()
    assert len(seed) == SEED_BYTES
    assert seed != new_seed()
    assert commitment(seed) == hashlib.sha256(seed).hexdigest()


def test_each_sku_is_ranked_by_hmac_of_the_reservation_id() -> None:
    result = draw(SEED, ENTRIES, UNITS)
    for sku, n in UNITS.items():
        pool = [e for e in ENTRIES if e.sku == sku]
        ranked = sorted(pool, key=lambda e: ticket(SEED, e.reservation_id))
        assert result.order(sku) == tuple(ranked)
        assert result.skus[sku].winners == tuple(ranked[:n])
        assert result.skus[sku].backups == tuple(ranked[n:])


def test_the_same_seed_gives_the_same_result_whatever_the_order_of_entries() -> None:
    first = draw(SEED, ENTRIES, UNITS)
    assert draw(SEED, list(reversed(ENTRIES)), UNITS) == first
    assert draw(SEED, sorted(ENTRIES, key=lambda e: ticket(b"x", e.fan_id)), UNITS) == first


def test_winners_are_as_many_as_units_or_entries() -> None:
    for units in (0, 1, 3, 8, 20):
        result = draw(SEED, ENTRIES, {"A": units})
        assert len(result.skus["A"].winners) == min(units, 8)
        assert len(result.order("A")) == 8


def test_a_sku_without_entries_has_no_winners() -> None:
    result = draw(SEED, ENTRIES, {"A": 1, "C": 5})
    assert result.skus["C"].winners == result.skus["C"].backups == ()


def test_entries_for_skus_not_drawn_are_ignored_and_reported() -> None:
    result = draw(SEED, ENTRIES, {"A": 2})
    assert set(result.skus) == {"A"}
    assert result.ignored == tuple(e for e in ENTRIES if e.sku == "B")


def test_a_fan_enters_a_launch_once() -> None:
    twice = [*ENTRIES, Entry("res_z", "fan_a0", "B")]
    with pytest.raises(InvalidInput) as raised:
        draw(SEED, twice, UNITS)
    assert raised.value.field == "entries"
    assert raised.value.code == "duplicate_entry"


@pytest.mark.parametrize(
    ("seed", "entries", "units", "field"),
    [
        (b"short", ENTRIES, UNITS, "seed"),
        (SEED, [*ENTRIES, ENTRIES[0]], UNITS, "entries"),
        (SEED, [Entry("", "fan", "A")], UNITS, "entries"),
        (SEED, ENTRIES, {"A": -1}, "units.A"),
        (SEED, ENTRIES, {"A": True}, "units.A"),
    ],
)
def test_invalid_draws_name_the_field(
    seed: bytes, entries: list[Entry], units: dict[str, int], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        draw(seed, entries, units)
    assert raised.value.field == field


def test_different_seeds_give_different_orders() -> None:
    pool = [Entry(f"res_{i:02d}", f"fan_{i}", "A") for i in range(10)]
    orders = {tuple(ids(draw(seed, pool, {"A": 3}).order("A"))) for seed in seeds(500)}
    assert len(orders) == 500


def test_each_entry_wins_its_fair_share() -> None:
    """Chi-square over 2,000 fixed seeds, 10 entries, 3 units; 27.88 is p = 0.001 at 9 dof."""
    pool = [Entry(f"res_{i:02d}", f"fan_{i}", "A") for i in range(10)]
    wins: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    for seed in seeds(2000):
        order = draw(seed, pool, {"A": 3}).order("A")
        wins.update(ids(order[:3]))
        firsts[order[0].reservation_id] += 1
    for counts, expected in ((wins, 600), (firsts, 200)):
        chi2 = sum((counts[e.reservation_id] - expected) ** 2 / expected for e in pool)
        assert chi2 < 27.88, counts


# -- the published document ---------------------------------------------------------------


def test_the_document_publishes_reservation_ids_only() -> None:
    doc = document()
    assert doc["algorithm"] == ALGORITHM
    assert doc["seed"] == SEED.hex()
    assert doc["units"] == UNITS
    assert doc["entries"] == [
        {"reservation_id": e.reservation_id, "sku": e.sku}
        for e in sorted(ENTRIES, key=lambda e: e.reservation_id)
    ]
    result = draw(SEED, ENTRIES, UNITS)
    assert doc["result"]["A"] == {
        "winners": ids(result.skus["A"].winners),
        "backups": ids(result.skus["A"].backups),
    }
    assert "fan_a0" not in json.dumps(doc)


def test_before_the_draw_the_seed_and_result_are_null() -> None:
    doc = publication("lau_1", commitment(SEED), None, ENTRIES, None, units=UNITS)
    assert doc["seed"] is None
    assert doc["result"] is None
    assert doc["commitment"] == commitment(SEED)
    assert verify(doc).problems == ("the draw has not taken place yet: seed and result are null",)


def test_soldout_will_not_publish_an_inconsistent_draw() -> None:
    result = draw(SEED, ENTRIES, UNITS)
    other = new_seed()
    with pytest.raises(InvalidInput, match="commitment"):
        publication("lau_1", commitment(other), SEED, ENTRIES, result, units=UNITS)
    with pytest.raises(InvalidInput, match="units"):
        publication("lau_1", commitment(SEED), SEED, ENTRIES, result, units={"A": 3})
    with pytest.raises(InvalidInput, match="entries"):
        publication("lau_1", commitment(SEED), SEED, ENTRIES[1:], result, units=UNITS)
    with pytest.raises(InvalidInput, match="together"):
        publication("lau_1", commitment(SEED), SEED, ENTRIES, None, units=UNITS)


# -- verification -------------------------------------------------------------------------


def test_a_genuine_document_verifies() -> None:
    verification = verify(json.loads(json.dumps(document())))
    assert verification.ok, verification.problems
    assert verification.launch_id == "lau_1"
    assert verification.entries == len(ENTRIES)
    assert [(t.sku, t.units, t.entries, t.winners, t.backups) for t in verification.tallies] == [
        ("A", 3, 8, 3, 5),
        ("B", 1, 4, 1, 3),
    ]


def tampered(change: Any) -> tuple[str, ...]:
    doc = copy.deepcopy(document())
    change(doc)
    verification = verify(doc)
    assert not verification.ok
    return verification.problems


def test_an_altered_seed_does_not_match_the_commitment() -> None:
    def alter(doc: dict[str, Any]) -> None:
        doc["seed"] = hashlib.sha256(b"another seed").hexdigest()

    problems = tampered(alter)
    assert problems[0].startswith("seed: its SHA-256 is")
    assert "not the published commitment" in problems[0]


def test_an_altered_commitment_does_not_match_the_seed() -> None:
    def alter(doc: dict[str, Any]) -> None:
        doc["commitment"] = commitment(b"something else")

    problems = tampered(alter)
    assert len(problems) == 1
    assert "not the published commitment" in problems[0]


def test_a_winner_swapped_with_a_backup_is_caught() -> None:
    def swap(doc: dict[str, Any]) -> None:
        a = doc["result"]["A"]
        a["winners"][1], a["backups"][0] = a["backups"][0], a["winners"][1]

    expected = ids(draw(SEED, ENTRIES, UNITS).skus["A"].winners)
    doc = document()
    assert tampered(swap) == (
        f"result.A.winners[1]: the draw gives {expected[1]},"
        f" the document has {doc['result']['A']['backups'][0]}",
    )


def test_a_winner_who_did_not_enter_is_caught() -> None:
    def smuggle(doc: dict[str, Any]) -> None:
        doc["result"]["A"]["winners"][0] = "res_friend"

    problems = tampered(smuggle)
    assert "result.A: res_friend not among the entries for SKU A" in problems


def test_an_entry_added_after_the_draw_is_caught() -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["entries"].append({"reservation_id": "res_late", "sku": "A"})

    assert tampered(add) == ("result.A: res_late neither a winner nor a backup",)


def test_an_entry_removed_after_the_draw_is_caught() -> None:
    removed = document()["result"]["B"]["backups"][0]

    def remove(doc: dict[str, Any]) -> None:
        doc["entries"] = [e for e in doc["entries"] if e["reservation_id"] != removed]

    assert tampered(remove) == (f"result.B: {removed} not among the entries for SKU B",)


def test_changed_units_are_caught() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["units"]["A"] = 4

    assert tampered(change) == (
        "result.A.winners: 4 units among 8 entries give 4 winners, the document lists 3",
    )


def test_a_sku_missing_from_the_result_is_caught() -> None:
    def drop(doc: dict[str, Any]) -> None:
        del doc["result"]["B"]

    assert tampered(drop) == ("result: SKU B is missing",)


@pytest.mark.parametrize(
    "name", ["launch_id", "algorithm", "commitment", "seed", "units", "entries", "result"]
)
def test_a_missing_field_is_named(name: str) -> None:
    def drop(doc: dict[str, Any]) -> None:
        del doc[name]

    assert f"missing field {name!r}" in tampered(drop)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("algorithm", "sha1", "algorithm: this verifier knows"),
        ("seed", "zz", "seed: expected 64 hex digits"),
        ("commitment", 7, "commitment: expected 64 hex digits"),
        ("units", [], "units: expected an object"),
        ("units", {"A": "3"}, "units.A: expected a whole number"),
        ("entries", {}, "entries: expected a list"),
        ("entries", [{"sku": "A"}], "entries[0].reservation_id: expected a non-empty string"),
        ("entries", [7], "entries[0]: expected an object"),
        ("result", {"A": {"winners": "x"}}, "result.A.winners: expected a list"),
        ("result", 3, "result: expected an object"),
        ("launch_id", None, "launch_id: expected a non-empty string"),
    ],
)
def test_a_malformed_field_is_named(name: str, value: object, problem: str) -> None:
    def spoil(doc: dict[str, Any]) -> None:
        doc[name] = value

    assert any(p.startswith(problem) for p in tampered(spoil)), tampered(spoil)


def test_a_document_that_is_not_an_object_is_a_problem() -> None:
    assert verify([]).problems == ("the document is not a JSON object",)  # type: ignore[arg-type]


def test_a_flood_of_problems_is_cut_short() -> None:
    def spoil(doc: dict[str, Any]) -> None:
        doc["entries"] = list(range(200))

    problems = tampered(spoil)
    assert len(problems) == 51
    assert problems[-1].startswith("... and ")


reservation_ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@st.composite
def draws(draw_: st.DrawFn) -> tuple[bytes, list[Entry], dict[str, int]]:
    rids = draw_(st.lists(reservation_ids, unique=True, max_size=40))
    skus = draw_(st.lists(st.sampled_from("ABCD"), min_size=len(rids), max_size=len(rids)))
    units = draw_(st.dictionaries(st.sampled_from("ABC"), st.integers(0, 10)))
    seed = draw_(st.binary(min_size=SEED_BYTES, max_size=SEED_BYTES))
    entries = [Entry(r, f"fan {i}", s) for i, (r, s) in enumerate(zip(rids, skus, strict=True))]
    return seed, entries, units


@settings(max_examples=200, deadline=None)
@given(draws())
def test_any_published_draw_verifies_and_partitions_the_entries(
    case: tuple[bytes, list[Entry], dict[str, int]],
) -> None:
    seed, entries, units = case
    result = draw(seed, entries, units)
    doc = publication("lau_p", commitment(seed), seed, entries, result, units=units)
    verification = verify(json.loads(json.dumps(doc)))
    assert verification.ok, verification.problems
    for sku, n in units.items():
        winners, backups = set(result.skus[sku].winners), set(result.skus[sku].backups)
        pool = {e for e in entries if e.sku == sku}
        assert not winners & backups
        assert winners | backups == pool
        assert len(winners) == min(n, len(pool))
    assert set(result.ignored) == {e for e in entries if e.sku not in units}


def test_a_draw_result_compares_by_value() -> None:
    assert isinstance(draw(SEED, ENTRIES, UNITS), DrawResult)
    assert draw(SEED, ENTRIES, UNITS) != draw(new_seed(), ENTRIES, UNITS)


# -- verify_source ------------------------------------------------------------------------


def test_verify_source_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(document()))
    ok, lines = verify_source(str(path))
    assert ok
    assert lines == [
        "Draw of launch lau_1: 12 entries",
        "  A: 3 units, 8 entries, 3 winners, 5 backups",
        "  B: 1 units, 4 entries, 1 winners, 3 backups",
        "OK: the seed matches the commitment and the result is its draw",
    ]


def test_verify_source_prints_the_problems_after_the_summary(tmp_path: Path) -> None:
    doc = document()
    doc["units"]["A"] = 4
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(doc))
    ok, lines = verify_source(str(path))
    assert not ok
    assert lines[-2:] == [
        "FAILED: the document does not verify",
        "  - result.A.winners: 4 units among 8 entries give 4 winners, the document lists 3",
    ]


def test_verify_source_says_when_a_file_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "draw.json"
    path.write_text("<html>not a draw</html>")
    ok, lines = verify_source(str(path))
    assert not ok
    assert lines == [f"{path} is not JSON: Expecting value: line 1 column 1 (char 0)"]


def test_verify_source_says_when_a_file_is_missing(tmp_path: Path) -> None:
    ok, lines = verify_source(str(tmp_path / "nope.json"))
    assert not ok
    assert lines == [f"cannot read {tmp_path / 'nope.json'}: No such file or directory"]


def test_verify_source_says_when_json_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "draw.json"
    path.write_text("[1, 2]")
    assert verify_source(str(path)) == (
        False,
        [f"{path} is not a draw document: expected a JSON object"],
    )


def test_verify_source_fetches_a_url() -> None:
    body = json.dumps(document()).encode()
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/missing/draw"):
            return httpx.Response(404)
        return httpx.Response(200, content=body)

    transport = httpx.MockTransport(answer)
    url = "https://shop.example/api/v1/launches/lau_1/draw"
    ok, lines = verify_source(url, transport=transport)
    assert ok, lines
    assert seen[0].url == url
    missing = "https://shop.example/api/v1/launches/missing/draw"
    assert verify_source(missing, transport=transport) == (
        False,
        [f"cannot fetch {missing}: it answered 404"],
    )


def test_verify_source_says_when_a_url_cannot_be_reached() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    url = "http://shop.example/draw"
    assert verify_source(url, transport=httpx.MockTransport(refuse)) == (
        False,
        [f"cannot fetch {url}: connection refused"],
    )
