"""Fair by default: a launch made with the API's (and the admin's) defaults gets the fair
race, sized to its batch; the fast race is asked for by name; an explicit rule still wins.
And the fair room's shuffle window: a fan who comes a little after the opening draws a
place with those who came before, and nobody is let in before the draw.

In-process (httpx over ASGI, the memory store, a fake clock)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.duplicates import DuplicateRule
from soldout.domain.errors import InvalidInput
from soldout.domain.launches import (
    FAIR_POW_BITS,
    FAIR_SHUFFLE_SECONDS,
    LaunchRules,
    Mode,
    Race,
    fair_admission,
    rules_for,
)
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore

ADMIN = "adm_fair_defaults"
ADMIN_AUTH = {"authorization": f"Bearer {ADMIN}"}

# -- the rules, as the domain chooses them ---------------------------------------------


def test_the_fair_race_sizes_its_protections_to_the_batch() -> None:
    rules = rules_for(Race.FAIR, units=1000)
    assert rules.waiting_room_rate == 8.34  # the batch again over two minutes
    assert rules.waiting_room_burst == 1000  # as many let in at once as there are units
    assert rules.waiting_room_shuffle_seconds == FAIR_SHUFFLE_SECONDS == 10
    assert rules.pow_difficulty == FAIR_POW_BITS == 12
    assert (rules.duplicate_rule, rules.duplicate_limit) == (DuplicateRule.CANCEL, 2)
    assert fair_admission(5) == (1.0, 5)  # a small batch: at least one fan a second
    assert fair_admission(50_000_000) == (100_000.0, 1_000_000)  # within the room's bounds


def test_the_fast_race_turns_every_protection_left_out_off() -> None:
    assert rules_for(Race.FAST, units=1000) == LaunchRules()


def test_a_draw_gets_only_the_duplicate_rule() -> None:
    rules = rules_for(Race.FAIR, units=400, mode=Mode.DRAW)
    assert (rules.waiting_room_rate, rules.pow_difficulty) == (None, None)
    assert rules.duplicate_rule is DuplicateRule.CANCEL


def test_an_explicit_rule_wins_over_either_race() -> None:
    assert rules_for(Race.FAIR, units=1000, pow_difficulty=None).pow_difficulty is None
    no_room = rules_for(Race.FAIR, units=1000, waiting_room_rate=None)
    assert (no_room.waiting_room_rate, no_room.waiting_room_burst) == (None, 0)
    assert no_room.waiting_room_shuffle_seconds == 0  # no room, nothing to shuffle
    assert no_room.pow_difficulty == FAIR_POW_BITS  # the rest stays fair
    fast_room = rules_for(Race.FAST, units=1000, waiting_room_rate=250.0, waiting_room_burst=9)
    assert (fast_room.waiting_room_rate, fast_room.waiting_room_burst) == (250.0, 9)
    assert (fast_room.waiting_room_shuffle_seconds, fast_room.pow_difficulty) == (0, None)
    mine = rules_for(Race.FAIR, units=10, duplicate_rule=DuplicateRule.HOLD)
    assert mine.duplicate_rule is DuplicateRule.HOLD


@pytest.mark.parametrize(
    "rules",
    [
        {"waiting_room_shuffle_seconds": 5},  # no room to shuffle
        {"waiting_room_rate": 1.0, "waiting_room_shuffle_seconds": 601},
        {"waiting_room_rate": 1.0, "waiting_room_shuffle_seconds": -1},
    ],
)
def test_a_shuffle_window_needs_a_room_and_a_sane_length(rules: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        LaunchRules(**rules)
    assert refused.value.field == "waiting_room_shuffle_seconds"


# -- the API's defaults, and the fast race asked for by name -----------------------------


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, Platform]]:
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, ADMIN), clock=clock)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://soldout.test") as http:
        try:
            yield http, platform
        finally:
            await platform.stop()


async def new_launch(
    http: httpx.AsyncClient, clock: FakeClock, *, opens_in: float = -1, **rules: Any
) -> dict[str, Any]:
    skus = [{"code": "A", "name": "A", "price": 1000, "currency": "EUR"}]
    made = await http.post("/api/v1/products", json={"name": "P", "skus": skus}, headers=ADMIN_AUTH)
    assert made.status_code == 201, made.text
    body = {
        "product_id": made.json()["id"],
        "title": "t",
        "sale_opens_at": (clock.now() + timedelta(seconds=opens_in)).isoformat(),
        "batch": {"A": 300},
        **rules,
    }
    launch = await http.post("/api/v1/launches", json=body, headers=ADMIN_AUTH)
    assert launch.status_code == 201, launch.text
    answer: dict[str, Any] = launch.json()
    return answer


def protections(launch: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        launch[k]
        for k in (
            "waiting_room_rate",
            "waiting_room_burst",
            "waiting_room_shuffle_seconds",
            "pow_difficulty",
            "duplicate_rule",
        )
    )


async def test_a_launch_made_with_the_apis_defaults_is_the_fair_one(
    api: tuple[httpx.AsyncClient, Platform], clock: FakeClock
) -> None:
    http, _ = api
    launch = await new_launch(http, clock)
    assert protections(launch) == (2.5, 300, 10, 12, "cancel")
    assert launch["status"] == "on_sale"  # the API publishes at once unless asked (v1)
    fan = await http.post("/api/v1/fans", json={"email": "a@f.test", "name": "A"})
    claim = await http.post(
        f"/api/v1/launches/{launch['id']}/claims",
        json={"sku": "A"},
        headers={
            "authorization": f"Bearer {fan.json()['token']}",
            "idempotency-key": uuid.uuid4().hex,
        },
    )
    assert claim.status_code == 403  # straight to the claim: not past the room
    assert claim.json()["error"]["code"] == "admission_required"


async def test_the_fast_race_is_asked_for_and_an_explicit_rule_wins(
    api: tuple[httpx.AsyncClient, Platform], clock: FakeClock
) -> None:
    http, _ = api
    fast = await new_launch(http, clock, race="fast")
    assert protections(fast) == (None, 0, 0, None, "allow")
    # As an older client sent it: every protection explicit, nothing added but what was
    # left out (the room's shuffle window: fair, as no race was named).
    older = await new_launch(
        http,
        clock,
        waiting_room_rate=250.0,
        waiting_room_burst=250,
        pow_difficulty=None,
        duplicate_rule="allow",
    )
    assert protections(older) == (250.0, 250, 10, None, "allow")
    no_room = await new_launch(http, clock, waiting_room_rate=None)
    assert protections(no_room) == (None, 0, 0, 12, "cancel")
    drawn = await new_launch(http, clock, mode="draw", opens_in=60)
    assert protections(drawn) == (None, 0, 0, None, "cancel")
    refused = await http.post(
        "/api/v1/launches",
        json={"product_id": fast["product_id"], "title": "t", "race": "reckless",
              "sale_opens_at": clock.now().isoformat(), "batch": {"A": 1}},
        headers=ADMIN_AUTH,
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "race"


# -- the shuffle window ------------------------------------------------------------------


async def test_fans_a_little_late_draw_their_places_with_the_early_ones(
    api: tuple[httpx.AsyncClient, Platform], clock: FakeClock
) -> None:
    """With the fair defaults, the room draws its order 10 s after the opening: a fan who
    joins 5 s late is drawn among the early ones, and nobody is let in before the draw."""
    http, platform = api
    launch = await new_launch(http, clock, opens_in=30, waiting_room_burst=1)
    fans = []
    for i in range(40):
        made = await http.post("/api/v1/fans", json={"email": f"f{i}@f.test", "name": f"F{i}"})
        fans.append({"authorization": f"Bearer {made.json()['token']}"})
    room = f"/api/v1/launches/{launch['id']}/waiting-room"

    async def view(fan: dict[str, str]) -> dict[str, Any]:
        answer = await http.get(room, headers=fan)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    early, late = fans[:20], fans[20:]
    for fan in early:
        assert (await http.post(room, headers=fan)).status_code == 200
    clock.advance(35)  # 5 s after the opening
    for fan in late:
        assert (await http.post(room, headers=fan)).status_code == 200
    # The sale is open, but the room has not drawn yet: no place, nobody let in.
    seen = [await view(f) for f in fans]
    assert {(v["state"], v["position"], v["admission_token"]) for v in seen} == {
        ("waiting", None, None)
    }
    clock.advance(5)  # the draw: 10 s after the opening
    places = {i: (await view(f)) for i, f in enumerate(fans)}
    admitted = [i for i, v in places.items() if v["state"] == "admitted"]
    assert len(admitted) == 1  # the burst asked for
    ranked = sorted(
        (i for i in places if places[i]["state"] == "waiting"), key=lambda i: places[i]["position"]
    )
    # Drawn together: the late ones are spread through the order, not put behind.
    first_half = set([*admitted, *ranked[:19]])
    assert first_half & set(range(20)), first_half
    assert first_half & set(range(20, 40)), first_half
    assert platform.gate.room_size(platform.engine.book(launch["id"])) is not None
