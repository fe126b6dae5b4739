"""Memory bounded by live launches: a launch long closed is archived on start (its claims,
orders and payments stay in the store) and everything a fan or the maker asks of it
answers as it did before the restart, on SQLite and on PostgreSQL.

In-process (httpx over ASGI, a fake clock): a sale, its payments, a shipment and a
refund; the clock moves past the close, the payment window and the day a closed launch
is kept; the platform restarts on the same data, and the archived launch is read back
from the store only when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.payments.test_provider import TestPayments
from soldout.services import Platform
from soldout.services.fans import EXPORT_EVERY
from soldout.services.tokens import TokenSigner
from soldout.store.ports import Store
from soldout.store.postgresql import PostgresStore
from soldout.store.sqlite import SqliteStore
from tests.support import shipping_address

pytest_plugins = ["tests.postgres"]

ADMIN = "adm_in_process_token_of_32_characters_at_least"
ADMIN_AUTH = {"authorization": f"Bearer {ADMIN}"}
WINDOW = 600  # the launches' payment window, in seconds
# past the close an hour away, the window of a claim made before it, and the day kept
PAST_KEEPING = (timedelta(hours=1, seconds=WINDOW) + timedelta(days=1, seconds=1)).total_seconds()


@dataclass
class Shop:
    platform: Platform
    http: httpx.AsyncClient
    webhooks: list[tuple[bytes, Mapping[str, str]]]  # what the provider sent, in order
    webhook_came: asyncio.Event

    async def launch(self, title: str, units: int, closes_in: timedelta | None) -> dict[str, Any]:
        skus = [{"code": "A", "name": "A", "price": 1000, "currency": "EUR", "cost": 400}]
        made = await self.http.post(
            "/api/v1/products", headers=ADMIN_AUTH, json={"name": title, "skus": skus}
        )
        assert made.status_code == 201, made.text
        now = self.platform.clock.now()
        body: dict[str, Any] = {
            "product_id": made.json()["id"],
            "title": title,
            "sale_opens_at": (now - timedelta(seconds=1)).isoformat(),
            "batch": {"A": units},
            "race": "fast",
            "payment_window_seconds": WINDOW,
        }
        if closes_in is not None:
            body["sale_closes_at"] = (now + closes_in).isoformat()
        launch = await self.http.post("/api/v1/launches", headers=ADMIN_AUTH, json=body)
        assert launch.status_code == 201, launch.text
        found: dict[str, Any] = launch.json()
        return found

    async def fan(self, referred_by: dict[str, Any] | None = None) -> dict[str, Any]:
        name = uuid.uuid4().hex[:10]
        body = {"email": f"{name}@fans.test", "name": name, "shipping": shipping_address()}
        if referred_by is not None:
            body["referral_code"] = referred_by["referral_code"]
        made = await self.http.post("/api/v1/fans", json=body)
        assert made.status_code == 201, made.text
        fan: dict[str, Any] = made.json()
        return fan

    async def claim(self, launch_id: str, fan: dict[str, Any], key: str) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": "A"},
            headers={**auth(fan), "idempotency-key": key},
        )

    async def pay(self, claim_id: str, fan: dict[str, Any]) -> dict[str, Any]:
        paid = await self.http.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={**auth(fan), "idempotency-key": uuid.uuid4().hex},
        )
        assert paid.status_code == 200, paid.text
        order: dict[str, Any] = paid.json()
        return order

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        answer = await self.http.get(path, headers=headers or ADMIN_AUTH)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()


def differences(before: Any, after: Any, at: str = "") -> list[str]:
    """Where two answers differ, path by path (what an assertion on them says)."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after), key=str)
        return [d for k in keys for d in differences(before.get(k), after.get(k), f"{at}/{k}")]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in differences(b, a, f"{at}/{i}")
        ]
    return [] if before == after else [f"{at}: {before!r} -> {after!r}"]


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


@contextlib.asynccontextmanager
async def running(make: Callable[[], Store], clock: FakeClock, tmp: Path) -> AsyncIterator[Shop]:
    # the provider's ledger outlives a restart, as a real provider's records would
    provider = TestPayments(tmp / "provider.db", secret=b"s" * 32, webhook_delay=0, clock=clock)
    platform = Platform(make(), TokenSigner(None, ADMIN), clock=clock, payments=provider)
    webhooks: list[tuple[bytes, Mapping[str, str]]] = []
    came = asyncio.Event()

    async def deliver(body: bytes, headers: Mapping[str, str]) -> None:
        webhooks.append((body, headers))
        await platform.engine.checkout.webhook(body, headers)
        came.set()

    provider.on_webhook(deliver)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://soldout.test") as http:
            yield Shop(platform, http, webhooks, came)
    finally:
        await platform.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "soldout.db")
    url: str = request.getfixturevalue("postgres_url")
    return lambda: PostgresStore(url)


@dataclass
class Sale:
    old: dict[str, Any]
    live: dict[str, Any]
    fans: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    keys: list[str]


async def a_sale(shop: Shop) -> Sale:
    """A launch that closes in an hour: six claims, four paid (one shipped), one cancelled,
    one left to expire; and a live launch with no close and one held claim."""
    old = await shop.launch("Old batch", 10, timedelta(hours=1))
    live = await shop.launch("Next batch", 10, None)
    # one unit a day from tomorrow: each order's ship date counts the units shipped before
    tomorrow = (shop.platform.clock.now() + timedelta(days=1)).date().isoformat()
    planned = await shop.http.put(
        f"/api/v1/products/{old['product_id']}/skus/A/plan",
        headers=ADMIN_AUTH,
        json={"starts_on": tomorrow, "rates": [{"starts_on": tomorrow, "units_per_day": 1}]},
    )
    assert planned.status_code == 200, planned.text
    fans = [await shop.fan()]
    fans += [await shop.fan(referred_by=fans[0]) for _ in range(3)]  # word of mouth
    fans += [await shop.fan() for _ in range(3)]
    keys = [uuid.uuid4().hex for _ in range(6)]
    claims = []
    for fan, key in zip(fans, keys, strict=False):
        made = await shop.claim(old["id"], fan, key)
        assert made.status_code == 201, made.text
        claims.append(made.json())
    orders = [await shop.pay(c["id"], f) for c, f in zip(claims[:4], fans, strict=False)]
    cancelled = await shop.http.delete(f"/api/v1/claims/{claims[4]['id']}", headers=auth(fans[4]))
    assert cancelled.status_code == 200, cancelled.text
    shipped = await shop.http.post(
        "/api/v1/shipments",
        content=f"order_id,carrier,tracking_number\n{orders[0]['id']},DHL,JD01\n",
        headers={**ADMIN_AUTH, "content-type": "text/csv"},
    )
    assert shipped.status_code == 200, shipped.text
    assert (await shop.claim(live["id"], fans[6], uuid.uuid4().hex)).status_code == 201
    return Sale(old, live, fans, claims, orders, keys)


async def what_is_shown(shop: Shop, sale: Sale) -> dict[str, Any]:
    """Every answer about the old launch a fan or the maker can ask for."""
    old = sale.old["id"]
    shown: dict[str, Any] = {
        "stats": await shop.get(f"/api/v1/launches/{old}/stats"),
        "claims": await shop.get(f"/api/v1/launches/{old}/claims"),
        "margin": await shop.get(f"/api/v1/launches/{old}/margin"),
        "launch": await shop.get(f"/api/v1/launches/{old}"),
        "orders": await shop.get(f"/api/v1/orders?launch_id={old}"),
    }
    for claim, fan in zip(sale.claims, sale.fans, strict=False):
        shown[claim["id"]] = await shop.get(f"/api/v1/claims/{claim['id']}", auth(fan))
    for order, fan in zip(sale.orders, sale.fans, strict=False):
        shown[order["id"]] = await shop.get(f"/api/v1/orders/{order['id']}", auth(fan))
        shown[f"{fan['id']} orders"] = await shop.get("/api/v1/me/orders", auth(fan))
    for fan in sale.fans:  # a fan's standing (referral points) and their data
        shown[f"{fan['id']} me"] = await shop.get("/api/v1/me", auth(fan))
    shown["data"] = await shop.get("/api/v1/me/data", auth(sale.fans[1]))
    for answer in (shown["stats"], shown["launch"]):
        del answer["server_time"]  # (the clock moves between two looks)
    return shown


async def test_a_closed_launch_is_archived_and_answers_as_before(
    make_store: Callable[[], Store], tmp_path: Path
) -> None:
    clock = FakeClock()
    async with running(make_store, clock, tmp_path) as shop:
        sale = await a_sale(shop)
        # past the close, the window of the last claim, and the day a closed launch is kept
        clock.advance(PAST_KEEPING)
        assert await shop.platform.engine.expire_due() == 2  # the old one and the live one
        before = await what_is_shown(shop, sale)
    assert before["stats"]["skus"]["A"]["paid"] == 4

    async with running(make_store, clock, tmp_path) as shop:
        engine = shop.platform.engine
        old = sale.old["id"]
        assert engine.archive.archived(old)
        assert not engine.archive.archived(sale.live["id"])
        assert engine.ledger.find(sale.claims[5]["id"]) is None  # not read on start
        assert engine.order_for(sale.claims[0]["id"]) is None  # shipped: not in memory
        assert engine.order_for(sale.claims[1]["id"]) is not None  # still to ship: it is
        after = await what_is_shown(shop, sale)
        assert not differences(before, after)

        # a retry of an old claim now meets the closed launch, and nothing is sold
        retried = await shop.claim(old, sale.fans[0], sale.keys[0])
        assert (retried.status_code, retried.json()["error"]["code"]) == (409, "closed")

        # the maker refunds an archived order that had not shipped: its unit goes back
        refunded = await shop.http.post(
            f"/api/v1/orders/{sale.orders[1]['id']}/refund",
            headers=ADMIN_AUTH,
            json={"reason": "changed their mind"},
        )
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["status"] == "refunded"
        await shop.webhook_came.wait()  # the provider said so too: found, though archived
        refunds = [w for w in shop.webhooks if b"refund" in w[0]]
        assert len(refunds) == 1
        stats = await shop.get(f"/api/v1/launches/{old}/stats")
        assert stats["skus"]["A"]["paid"] == 3
        assert stats["skus"]["A"]["available"] == before["stats"]["skus"]["A"]["available"] + 1
        clock.advance(EXPORT_EVERY)  # (a fan's data is exported once in so many seconds)
        seen = await what_is_shown(shop, sale)

    async with running(make_store, clock, tmp_path) as shop:
        assert not differences(seen, await what_is_shown(shop, sale))  # recorded as shown
        # the provider sends its refund's webhook again: the payment is archived, read
        # back, and the event is known (nothing changes)
        (body, headers), *_ = refunds
        assert await shop.platform.engine.checkout.webhook(body, headers) == "duplicate"
        clock.advance(EXPORT_EVERY)
        assert not differences(seen, await what_is_shown(shop, sale))


async def test_an_archived_launch_changed_by_the_maker_is_made_resident_again(
    make_store: Callable[[], Store], tmp_path: Path
) -> None:
    clock = FakeClock()
    async with running(make_store, clock, tmp_path) as shop:
        sale = await a_sale(shop)
        clock.advance(PAST_KEEPING)
        await shop.platform.engine.expire_due()
        before = await what_is_shown(shop, sale)

    async with running(make_store, clock, tmp_path) as shop:
        engine, old = shop.platform.engine, sale.old["id"]
        assert engine.archive.archived(old)
        # two changes at once: the launch is read back once, and both apply
        changes = [
            shop.http.patch(f"/api/v1/launches/{old}", headers=ADMIN_AUTH, json={"title": t})
            for t in ("Old batch, renamed", "Old batch, renamed")
        ]
        for answer in await asyncio.gather(*changes):
            assert answer.status_code == 200, answer.text
        assert not engine.archive.archived(old)
        assert len(engine.ledger.of_launch(old)) == len(sale.claims)
        after = await what_is_shown(shop, sale)
        assert after["stats"] == before["stats"]
        assert after["claims"] == before["claims"]


async def test_a_launch_closed_while_the_server_runs_leaves_memory_and_answers_as_before(
    make_store: Callable[[], Store], tmp_path: Path
) -> None:
    clock = FakeClock()
    async with running(make_store, clock, tmp_path) as shop:
        engine = shop.platform.engine
        sale = await a_sale(shop)
        old = sale.old["id"]
        clock.advance(timedelta(hours=1, seconds=WINDOW + 1).total_seconds())  # closed, paid up
        assert await engine.expire_due() == 2
        assert not engine.archive.archived(old)  # still kept: a retry may come back
        before = await what_is_shown(shop, sale)

        clock.advance(timedelta(days=1).total_seconds())
        await engine.expire_due()  # the sweeper's wake-up: the day is over
        assert engine.archive.archived(old)
        assert not engine.archive.archived(sale.live["id"])
        assert engine.ledger.of_launch(old) == []
        assert engine.ledger.find(sale.claims[5]["id"]) is None
        assert engine.order_for(sale.claims[0]["id"]) is None  # shipped: gone from memory
        assert engine.order_for(sale.claims[1]["id"]) is not None  # still to ship: kept
        assert engine.book(old).fan_units == {}
        clock.advance(EXPORT_EVERY)
        assert not differences(before, await what_is_shown(shop, sale))

    async with running(make_store, clock, tmp_path) as shop:  # as a start finds it
        assert shop.platform.engine.archive.archived(sale.old["id"])
        clock.advance(EXPORT_EVERY)
        assert not differences(before, await what_is_shown(shop, sale))
