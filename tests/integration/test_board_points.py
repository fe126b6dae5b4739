"""Points for taking part, and the codes they earn, over the API of an in-process shop whose
clock the test moves: votes of accounts a day old count, new accounts' do not; shipped
ideas and useful comments count; the top contributors get one code each per launch, never
for a closed launch, and as many as the launch has units to set aside."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore

ADMIN = "adm_in_process_token_for_the_board"
DAY = timedelta(days=1)


@dataclass
class Shop:
    clock: FakeClock
    api: httpx.AsyncClient  # with the maker's token
    anyone: httpx.AsyncClient
    product_id: str

    async def fan(self) -> dict[str, str]:
        name = uuid.uuid4().hex[:8]
        made = await self.anyone.post(
            "/api/v1/fans", json={"email": f"{name}@fans.test", "name": f"Fan {name}"}
        )
        assert made.status_code == 201, made.text
        return {"id": made.json()["id"], "authorization": f"Bearer {made.json()['token']}"}

    async def idea(self, fan: dict[str, str], title: str) -> str:
        made = await self.anyone.post(
            f"/api/v1/products/{self.product_id}/ideas", json={"title": title}, headers=_h(fan)
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    async def vote(self, fan: dict[str, str], idea_id: str) -> None:
        voted = await self.anyone.put(f"/api/v1/ideas/{idea_id}/vote", headers=_h(fan))
        assert voted.status_code == 200, voted.text

    async def points(self, fan: dict[str, str]) -> int:
        me = await self.anyone.get("/api/v1/me", headers=_h(fan))
        return int(me.json()["points"])

    async def launch(self, units: int, opens_in: timedelta = DAY) -> str:
        made = await self.api.post(
            "/api/v1/launches",
            json={
                "product_id": self.product_id,
                "title": "batch 2",
                "sale_opens_at": (self.clock.now() + opens_in).isoformat(),
                "sale_closes_at": (self.clock.now() + opens_in + DAY).isoformat(),
                "batch": {"A": units},
                "race": "fast",
            },
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])


def _h(fan: dict[str, str]) -> dict[str, str]:
    return {"authorization": fan["authorization"]}


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = FakeClock()
    platform = Platform(InMemoryStore(), TokenSigner(b"b" * 32, ADMIN), clock=clock)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    base = "http://shop.test"
    async with (
        httpx.AsyncClient(
            transport=transport, base_url=base, headers={"authorization": f"Bearer {ADMIN}"}
        ) as api,
        httpx.AsyncClient(transport=transport, base_url=base) as anyone,
    ):
        sku = {"code": "A", "name": "Black", "price": 19900, "currency": "EUR"}
        made = await api.post("/api/v1/products", json={"name": "Model Two", "skus": [sku]})
        assert made.status_code == 201, made.text
        shop = Shop(clock, api, anyone, made.json()["id"])
        await shop.launch(units=1, opens_in=30 * DAY)  # announced: its board is open to fans
        yield shop
    await platform.stop()


async def test_votes_of_accounts_a_day_old_earn_points_new_accounts_votes_do_not(
    shop: Shop,
) -> None:
    ann = await shop.fan()
    idea = await shop.idea(ann, "Dark mode")
    await shop.vote(await shop.fan(), idea)  # a brand-new account: counted, earns nothing
    assert await shop.points(ann) == 0
    seasoned = await shop.fan()
    shop.clock.advance(2 * 24 * 3600)
    await shop.vote(seasoned, idea)
    assert await shop.points(ann) == 1
    board = await shop.anyone.get(f"/api/v1/ideas/{idea}")
    assert board.json()["votes"] == 3  # every vote counts on the board itself
    release = {"title": "r1", "ideas": [idea]}
    shipped = await shop.api.post(f"/api/v1/products/{shop.product_id}/releases", json=release)
    assert shipped.status_code == 201, shipped.text
    assert await shop.points(ann) == 1 + 20


async def test_the_top_contributors_get_one_code_each_per_open_launch(shop: Shop) -> None:
    fans = [await shop.fan() for _ in range(4)]
    voters = [await shop.fan() for _ in range(3)]
    shop.clock.advance(2 * 24 * 3600)
    ideas = [await shop.idea(fan, f"idea {i}") for i, fan in enumerate(fans)]
    for i, idea in enumerate(ideas[:3]):  # idea 0 gets 3 votes, idea 1 two, idea 2 one
        for voter in voters[: 3 - i]:
            await shop.vote(voter, idea)
    url = f"/api/v1/products/{shop.product_id}/contributors/codes"
    launch = await shop.launch(units=2)
    given = (await shop.api.post(url, json={"launch_id": launch, "top": 3})).json()
    assert [g["fan_id"] for g in given["given"]] == [fans[0]["id"], fans[1]["id"]]
    assert given["stopped"]  # two units to set aside: the third contributor got none
    codes = await shop.api.get(f"/api/v1/launches/{launch}/priority-codes")
    assert len(codes.json()["codes"]) == 2
    again = await shop.api.post(url, json={"launch_id": launch, "top": 3})
    assert again.status_code == 409  # the first two have theirs; no unit left for the third
    roomy = await shop.launch(units=10)
    given = (await shop.api.post(url, json={"launch_id": roomy, "top": 3})).json()
    assert [g["points"] for g in given["given"]] == [3, 2, 1]
    assert given["stopped"] is None
    twice = (await shop.api.post(url, json={"launch_id": roomy, "top": 3})).json()
    assert twice["given"] == []  # no one gets a second code for the same launch
    shop.clock.advance(5 * 24 * 3600)  # both launches have closed
    closed = await shop.api.post(url, json={"launch_id": roomy, "top": 4})
    assert closed.status_code == 409
    assert closed.json()["error"]["code"] == "launch_closed"
