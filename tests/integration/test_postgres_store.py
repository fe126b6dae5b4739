"""The platform on PostgreSQL, in-process (httpx over ASGI, a fake clock): a sale outlives
a restart, one server owns a database, claims share their commits, and a server killed
mid-sale loses no claim that was answered yes.

PostgreSQL comes from tests/postgres.py: the session's server with a fresh database per
test, and a private server for the test that kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.datadir import Unusable
from soldout.domain.audit import AuditEntry
from soldout.domain.errors import StorageUnavailable
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.postgresql import PostgresStore, StoreInUse, check_database
from soldout.store.postgresql.writer import Do
from tests.postgres import PostgresServer
from tests.support import shipping_address

pytest_plugins = ["tests.postgres"]

ADMIN = "adm_in_process_token_of_32_characters_at_least"
ADMIN_AUTH = {"authorization": f"Bearer {ADMIN}"}


@dataclass
class Shop:
    platform: Platform
    store: PostgresStore
    http: httpx.AsyncClient

    async def launch(self, units: int) -> str:
        """A product with SKU A and a launch of `units` on sale now; its id."""
        skus = [{"code": "A", "name": "A", "price": 1000, "currency": "EUR", "cost": 400}]
        made = await self.http.post(
            "/api/v1/products", headers=ADMIN_AUTH, json={"name": "Lamp", "skus": skus}
        )
        assert made.status_code == 201, made.text
        opens = self.platform.clock.now() - timedelta(seconds=1)
        launch = await self.http.post(
            "/api/v1/launches",
            headers=ADMIN_AUTH,
            json={
                "product_id": made.json()["id"],
                "title": "First batch",
                "sale_opens_at": opens.isoformat(),
                "batch": {"A": units},
                "race": "fast",
            },
        )
        assert launch.status_code == 201, launch.text
        launch_id: str = launch.json()["id"]
        return launch_id

    async def fans(self, count: int) -> list[dict[str, Any]]:
        async def one() -> dict[str, Any]:
            name = uuid.uuid4().hex[:10]
            body = {"email": f"{name}@fans.test", "name": name, "shipping": shipping_address()}
            made = await self.http.post("/api/v1/fans", json=body)
            assert made.status_code == 201, made.text
            fan: dict[str, Any] = made.json()
            return fan

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def claim(self, launch_id: str, fan: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": "A"},
            headers={**_auth(fan), "idempotency-key": uuid.uuid4().hex},
        )

    async def stats(self, launch_id: str) -> dict[str, int]:
        answer = await self.http.get(f"/api/v1/launches/{launch_id}/stats", headers=ADMIN_AUTH)
        assert answer.status_code == 200, answer.text
        counts: dict[str, int] = answer.json()["skus"]["A"]
        return counts


def _auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


@contextlib.asynccontextmanager
async def running(url: str, clock: FakeClock) -> AsyncIterator[Shop]:
    """The platform on the database at `url`, as `soldout serve --store url` runs it."""
    store = PostgresStore(url)
    platform = Platform(store, TokenSigner(None, ADMIN), clock=clock)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://soldout.test") as http:
            yield Shop(platform, store, http)
    finally:
        await platform.stop()


async def test_a_sale_outlives_a_restart(postgres_url: str) -> None:
    clock = FakeClock()
    async with running(postgres_url, clock) as shop:
        launch_id = await shop.launch(units=5)
        buyer, *holders = await shop.fans(3)
        claims = [await shop.claim(launch_id, fan) for fan in (buyer, *holders)]
        assert [c.status_code for c in claims] == [201, 201, 201], [c.text for c in claims]
        paid = await shop.http.post(
            f"/api/v1/claims/{claims[0].json()['id']}/payment",
            json={"method": "test", "token": "tok_ok", "shipping": shipping_address()},
            headers={**_auth(buyer), "idempotency-key": uuid.uuid4().hex},
        )
        assert paid.status_code == 200, paid.text
        order = paid.json()
        before = await shop.stats(launch_id)
        assert (before["available"], before["held"], before["paid"]) == (2, 2, 1)

    async with running(postgres_url, clock) as shop:  # a new process on the same database
        assert await shop.stats(launch_id) == before
        again = await shop.http.get(f"/api/v1/orders/{order['id']}", headers=_auth(buyer))
        assert again.status_code == 200, again.text  # the token too: its key is in the store
        assert again.json()["status"] == order["status"] == "paid"
        stored = {c.id: c.state.value for c in await shop.store.claims.all()}
        assert stored == {
            claims[0].json()["id"]: "paid",
            claims[1].json()["id"]: "held",
            claims[2].json()["id"]: "held",
        }
        (payment,) = await shop.store.payments.all()
        assert (payment.claim_id, payment.state.value) == (claims[0].json()["id"], "captured")
        sold_out = [await shop.claim(launch_id, fan) for fan in await shop.fans(3)]
        assert [c.status_code for c in sold_out] == [201, 201, 409]


async def test_a_second_server_on_the_same_database_is_refused(postgres_url: str) -> None:
    async with running(postgres_url, FakeClock()) as shop:
        second = PostgresStore(postgres_url)
        with pytest.raises(StoreInUse) as refused:
            await second.open()
        database = postgres_url.rsplit("/", 1)[1]
        assert f"another soldout server owns the PostgreSQL database {database}" in str(
            refused.value
        )
        assert shop.store.writer.failed is None  # the owner goes on
        answer = await shop.http.get("/healthz")
        assert answer.json()["status"] == "ok"
    third = PostgresStore(postgres_url)  # once the owner stopped, the lock is free
    await third.open()
    await third.close()


async def test_the_checks_before_serving(postgres_url: str) -> None:
    """What `soldout serve` checks before it serves: the database reached, migrated, owned by
    no other server; each problem one line naming the database."""
    check_database(postgres_url)  # an empty database: migrated
    async with running(postgres_url, FakeClock()):
        with pytest.raises(StoreInUse, match="another soldout server owns the PostgreSQL"):
            check_database(postgres_url)
    check_database(postgres_url)  # free again
    nowhere = "postgresql://postgres@127.0.0.1:1/shop"
    unreachable = r"cannot reach the PostgreSQL database shop on 127\.0\.0\.1:1: "
    with pytest.raises(Unusable, match=unreachable):
        check_database(nowhere)
    with pytest.raises(Unusable, match="cannot reach the PostgreSQL database shop"):
        await PostgresStore(nowhere).open()


async def test_reading_beside_a_running_server(postgres_url: str) -> None:
    """`open_read_only` (for `soldout reconcile` and reports): no lock, no migration, no
    writes, and what the server has committed."""
    empty = PostgresStore(postgres_url)
    with pytest.raises(Unusable, match="no soldout data in the PostgreSQL database"):
        await empty.open_read_only()
    async with running(postgres_url, FakeClock()) as shop:
        launch_id = await shop.launch(units=5)
        (fan,) = await shop.fans(1)
        claimed = await shop.claim(launch_id, fan)
        assert claimed.status_code == 201, claimed.text
        reader = PostgresStore(postgres_url)
        await reader.open_read_only()
        try:
            assert [c.id for c in await reader.claims.all()] == [claimed.json()["id"]]
            with pytest.raises(StorageUnavailable):
                await reader.audit.add(AuditEntry(shop.platform.clock.now(), "admin:x", "x", "y"))
        finally:
            await reader.close()


async def test_concurrent_claims_share_their_commits(postgres_url: str) -> None:
    async with running(postgres_url, FakeClock()) as shop:
        launch_id = await shop.launch(units=500)
        fans = await shop.fans(200)
        commits, writes = shop.store.writer.batches, shop.store.writer.jobs
        answers = await asyncio.gather(*(shop.claim(launch_id, fan) for fan in fans))
        assert [a.status_code for a in answers] == [201] * 200
        commits = shop.store.writer.batches - commits
        assert shop.store.writer.jobs - writes >= 200
        assert commits <= 20, f"200 claims took {commits} commits"
        health = (await shop.http.get("/healthz")).json()
        assert health["group_commit"]["transactions"] == shop.store.writer.batches
        assert len(await shop.store.claims.all()) == 200


async def test_a_server_killed_mid_sale_loses_no_yes(private_postgres: PostgresServer) -> None:
    """Waves of concurrent claims; right after the third commit of the sale the server is
    killed (SIGKILL to every process, from a thread while the claims go on), so that commits
    are cut in flight or refused."""
    clock = FakeClock()
    with private_postgres.database() as url:
        async with running(url, clock) as shop:
            launch_id = await shop.launch(units=1000)
            fans = await shop.fans(300)
            writer = shop.store.writer
            third = writer.batches + 3
            killing: list[asyncio.Task[None]] = []

            def kill_after_the_third(writes: int, seconds: float) -> None:
                if writer.batches == third:
                    kill = asyncio.to_thread(private_postgres.kill)
                    killing.append(asyncio.get_running_loop().create_task(kill))

            shop.store.on_commit(kill_after_the_third)
            answers: list[httpx.Response] = []
            for wave in range(10):
                fans_of_wave = fans[wave * 20 : (wave + 1) * 20]
                answers += await asyncio.gather(*(shop.claim(launch_id, f) for f in fans_of_wave))
            await killing[0]
            late = [await shop.claim(launch_id, fan) for fan in fans[200:210]]
            assert writer.failed is not None
            for answer in answers + late:
                assert answer.status_code in (201, 503), answer.text
                if answer.status_code == 503:
                    assert answer.json()["error"]["code"] == "storage_unavailable"
            assert {a.status_code for a in late} == {503}
            health = await shop.http.get("/healthz")
            assert (health.status_code, health.json()["status"]) == (503, "storage_failed")
            assert health.json()["error"]  # what failed, in one line
            assert health.json()["recover"].startswith("restart soldout once its store")
        yes = {a.json()["id"] for a in answers if a.status_code == 201}
        assert len(yes) >= 60  # the first three waves, at least
        private_postgres.start()
        async with running(url, clock) as shop:
            stored = {c.id for c in await shop.store.claims.all()}
            assert yes <= stored  # every claim answered 201 is there
            stats = await shop.stats(launch_id)
            assert stats["held"] == len(stored)
            assert stats["available"] == 1000 - len(stored)


async def test_a_failed_batch_leaves_no_statement_believed_prepared(postgres_url: str) -> None:
    """psycopg prepares a statement at its sixth use. In a batch that fails, the server
    skips what followed the error, a PREPARE included: psycopg must not go on believing
    that statement prepared ("prepared statement ... does not exist" at its next use).
    Here the sixth use of a statement, so its PREPARE, is queued behind a job that fails
    only once it is (it sleeps first); the statement is used again after, and works."""
    async with running(postgres_url, FakeClock()) as shop:
        store, now = shop.store, shop.platform.clock.now()

        def entry(n: int) -> AuditEntry:
            return AuditEntry(now, "admin:test", "test.write", f"subject-{n}")

        for n in range(8):  # prepared at the sixth
            await store.audit.add(entry(n))
        for n in range(5):  # five uses: the batch's is the sixth, which prepares it
            assert await store.payments.note_event("test", f"evt_{n}", now)
        batch = [
            store.writer.submit(Do([("SELECT 1 / (SELECT 0 FROM pg_sleep(0.2))", ())])),
            store.audit.add(entry(100)),
            store.payments.note_event("test", "evt_batch", now),
        ]
        outcomes = await asyncio.gather(*batch, return_exceptions=True)
        assert isinstance(outcomes[0], psycopg.errors.DivisionByZero), outcomes
        assert outcomes[1:] == [None, True], outcomes  # (sent again, one by one)
        for n in range(8):  # used after the failure, prepared again at the sixth use
            await store.audit.add(entry(200 + n))
            assert await store.payments.note_event("test", f"evt_after_{n}", now)
        assert store.writer.failed is None
        subjects = {e.subject for e in await store.audit.recent(500)}
        assert {"subject-100", "subject-207"} <= subjects
