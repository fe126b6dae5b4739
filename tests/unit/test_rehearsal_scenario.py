"""Scenarios: the bundled ones load; a wrong field is named in one line; the crowd's plan
follows from the scenario and the seed alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from soldout.rehearsal.plan import plan_participants
from soldout.rehearsal.scenario import (
    ScenarioError,
    bundled_scenarios,
    load_scenario,
    parse_scenario,
)

MINIMAL = """
[launch]
[[launch.skus]]
code = "A"
price = 100
batch = 10
[crowd]
fans = 20
[run]
max_seconds = 10
max_requests = 1000
"""


def test_the_bundled_scenarios_load() -> None:
    assert bundled_scenarios() == ["bot-attack", "draw", "fair-default", "tuesday-noon"]
    tuesday = load_scenario("tuesday-noon")
    assert tuesday.name == "tuesday-noon"
    assert tuesday.launch.units == 1000
    assert tuesday.launch.waiting_room_rate is not None
    assert load_scenario("draw").launch.mode == "draw"
    attack = load_scenario("bot-attack")
    assert attack.launch.pow_difficulty
    assert attack.launch.duplicate_rule == "cancel"
    # tuesday-noon and bot-attack set their protections by hand, on the fast race;
    # fair-default leaves every one to the server's defaults.
    assert tuesday.launch.protections() == {
        "race": "fast",
        "waiting_room_rate": 250.0,
        "waiting_room_burst": 250,
    }
    assert attack.launch.protections()["race"] == "fast"
    assert load_scenario("fair-default").launch.protections() == {}


def test_a_protection_set_to_0_is_sent_as_off_and_one_left_out_is_not_sent() -> None:
    text = MINIMAL.replace("[launch]", '[launch]\npow_difficulty = 0\nduplicate_rule = "hold"')
    launch = parse_scenario(text, "x.toml").launch
    assert launch.protections() == {"pow_difficulty": None, "duplicate_rule": "hold"}


def test_a_file_is_named_after_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL)
    assert load_scenario(str(path)).name == "mine"


def test_an_unknown_source_names_the_bundled_ones() -> None:
    with pytest.raises(ScenarioError, match=r"nowhere\.toml: cannot read it .*tuesday-noon"):
        load_scenario("nowhere.toml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("fans = 20", "fans = 0"), "crowd.fans: must be >= 1"),
        (("fans = 20", 'fans = "20"'), "crowd.fans: must be a whole number"),
        (("fans = 20", "fans = 20\nbots = 3"), "crowd.bots: unknown field"),
        (("price = 100", "price = 1.5"), "launch.skus[0].price: must be a whole number"),
        (("price = 100", "price = 0"), "launch.skus[0].price: must be >= 1"),
        (("[launch]", '[launch]\nmode = "lottery"'), "launch.mode: must be one of"),
        (("max_seconds = 10\n", ""), "run.max_seconds: is required"),
        (("max_requests = 1000", "max_requests = 5"), "run.max_requests: must cover the setup"),
        (("[crowd]", "[crowd]\narrival = { sd_seconds = -1 }"), "crowd.arrival.sd_seconds"),
        (
            ("[launch]", '[launch]\nmode = "draw"\nwaiting_room_rate = 5.0'),
            "launch.waiting_room_rate: a draw has no waiting room",
        ),
        (("fans = 20", "fans = ["), "not valid TOML"),
    ],
)
def test_a_wrong_field_is_named_with_the_file(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(MINIMAL.replace(*change), "launch.toml")
    text = str(caught.value)
    assert text.startswith("launch.toml: ")
    assert message in text
    assert "\n" not in text


def test_the_plan_follows_from_the_seed() -> None:
    scenario = load_scenario("bot-attack")
    first = plan_participants(scenario, 3, "run1")
    again = plan_participants(scenario, 3, "run1")
    other = plan_participants(scenario, 4, "run1")
    assert [(p.arrival, p.sku, p.abandons) for p in first] == [
        (p.arrival, p.sku, p.abandons) for p in again
    ]
    assert [p.arrival for p in first] != [p.arrival for p in other]


def test_the_plan_shapes_the_crowd() -> None:
    scenario = load_scenario("bot-attack")
    people = plan_participants(scenario, 1, "r")
    fans = [p for p in people if p.actor == "fan"]
    bots = [p for p in people if p.actor == "bot"]
    assert (len(fans), len(bots)) == (1500, 400)
    assert len({p.email for p in people}) == len(people)
    assert len({p.address for p in fans}) == len(fans)  # fans do not share addresses
    shared = [p for p in bots if "Bot Lane" in (p.address or "")]
    assert len({p.address for p in shared}) == scenario.bots.addresses
    assert 0.8 * 400 < len(shared) < 0.97 * 400  # about 10 % have their own
    assert all(p.arrival < 0 for p in bots)  # bots come before the opening
    countdown = scenario.launch.opens_in_seconds
    assert all(p.arrival >= -countdown for p in people)
    referred = [i for i, p in enumerate(fans) if p.referred]
    assert referred
    assert min(referred) > max(i for i, p in enumerate(fans) if not p.referred)
