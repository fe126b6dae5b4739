"""`/metrics` (issue 16): what an operator's Prometheus reads, checked against what the
clients saw. A real server for the sale (the hot path over Granian, SQLite's group
commit, the test provider); the platform in-process with a fake clock for what needs
time to pass (the sweeper's lag, waiting rooms, the e-mail backlog)."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.errors import StorageUnavailable
from soldout.domain.notifications import Notification
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import ServerProcess, claim, create_launch, eventually, register

SCRAPER = "metrics-token-for-prometheus-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels (the format must parse)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"SOLDOUT_METRICS_TOKEN": SCRAPER, "SOLDOUT_RATE_LIMIT_FAN": "0"}
    process = ServerProcess(tmp_path_factory.mktemp("metrics") / "data", env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def scrape(server: ServerProcess) -> Samples:
    with server.client(SCRAPER) as prometheus:
        response = prometheus.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def test_only_the_metrics_token_or_the_admin_token_opens_metrics(server: ServerProcess) -> None:
    with server.client() as anyone, server.admin() as admin:
        fan = register(anyone)
        assert anyone.get("/metrics").status_code == 401
        fan_says = anyone.get("/metrics", headers={"authorization": f"Bearer {fan['token']}"})
        assert fan_says.status_code == 401
        assert fan_says.json()["error"]["code"] == "unauthorized"
        assert admin.get("/metrics").status_code == 200
        # the scraper's token opens nothing else
        as_scraper = {"authorization": f"Bearer {SCRAPER}"}
        assert anyone.get("/api/v1/launches/x/stats", headers=as_scraper).status_code == 401
    assert value(scrape(server), "soldout_build_info", version="0.1.0") == 1


def test_a_crowd_is_counted_as_its_clients_saw_it(server: ServerProcess) -> None:
    """40 fans claim 12 units at once: the claims by code are the answers they got, the
    units by state the launch's, and each group commit carried the durable claims."""
    with server.admin() as admin, server.client() as anyone:
        launch_id = create_launch(admin, batch={"A": 12})["id"]
        before = scrape(server)
        fans = [register(anyone) for _ in range(40)]

        def one(fan: dict[str, Any]) -> int:
            with server.client() as own:
                return claim(own, launch_id, fan["token"]).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(one, fans))
        again = claim(anyone, launch_id, fans[0]["token"], key="same-key")
        replay = claim(anyone, launch_id, fans[0]["token"], key="same-key")
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert statuses.count(201) == 12
    assert statuses.count(409) == 28
    # once the batch is gone, sold out is the answer before anything else is looked at
    assert (again.status_code, replay.status_code) == (409, 409)
    assert delta("soldout_claims_total", code="created") == 12
    assert delta("soldout_claims_total", code="sold_out") == 28 + 2
    # timed: the claims that reached the decision (the 12, and those that found the
    # batch gone only there); the refusals answered from memory are counted, not timed
    assert 12 <= delta("soldout_claim_duration_seconds_count") <= 40
    assert value(after, "soldout_launch_info", launch=launch_id, title="test launch") == 1
    for state, units in (("available", 0), ("held", 12), ("paid", 0), ("set_aside", 0)):
        assert value(after, "soldout_units", launch=launch_id, sku="A", state=state) == units
    # every durable claim went through a group commit (with the registrations and more)
    assert delta("soldout_group_commit_writes_sum") >= 12
    assert (
        1
        <= delta("soldout_group_commit_fsync_seconds_count")
        <= delta("soldout_group_commit_writes_sum")
    )
    signed_up = {"method": "POST", "route": "/api/v1/fans", "status": "201"}
    assert delta("soldout_http_requests_total", **signed_up) == 40
    # routes are named by their template: no launch id (or any other value) in a label
    routes = {dict(labels).get("route") for _, labels in after} - {None}
    assert "/api/v1/fans" in routes
    assert not any(launch_id in str(route) for route in routes)


def test_payments_are_counted_by_step_and_outcome(server: ServerProcess) -> None:
    with server.admin() as admin, server.client() as anyone:
        launch_id = create_launch(admin, batch={"A": 5})["id"]
        before = scrape(server)
        for card, status in (("tok_ok", 200), ("tok_decline", 402)):
            fan = register(anyone)
            held = claim(anyone, launch_id, fan["token"])
            assert held.status_code == 201, held.text
            paid = anyone.post(
                f"/api/v1/claims/{held.json()['id']}/payment",
                json={"method": "test", "token": card},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": card},
            )
            assert paid.status_code == status, paid.text
    after = scrape(server)
    steps = (("authorize", "authorized"), ("authorize", "declined"), ("capture", "ok"))
    for step, outcome in steps:
        labels = {"provider": "test", "step": step, "outcome": outcome}
        grew = value(after, "soldout_payments_total", **labels) - value(
            before, "soldout_payments_total", **labels
        )
        assert grew == 1, (step, outcome)
    assert value(after, "soldout_units", launch=launch_id, sku="A", state="paid") == 1


def test_a_payment_waiting_for_its_outcome_is_seen_until_the_webhook_settles_it(
    server: ServerProcess,
) -> None:
    """The bank answers later (`tok_delayed`: the test provider's webhook comes after its
    delay): the payment waits in `soldout_payments_unsettled` until then, and the
    webhook's arrival starts `soldout_payment_webhook_age_seconds`."""
    with server.admin() as admin, server.client() as anyone:
        launch_id = create_launch(admin, batch={"A": 1})["id"]
        fan = register(anyone)
        held = claim(anyone, launch_id, fan["token"])
        paying = anyone.post(
            f"/api/v1/claims/{held.json()['id']}/payment",
            json={"method": "test", "token": "tok_delayed"},
            headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": "late"},
        )
        assert paying.status_code == 202, paying.text
    waiting = scrape(server)
    assert value(waiting, "soldout_payments_unsettled") == 1
    assert value(waiting, "soldout_payment_oldest_unsettled_seconds") >= 0
    settled = eventually(
        lambda: scrape(server),
        lambda s: value(s, "soldout_payments_unsettled") == 0,
        timeout=20,
    )
    assert ("soldout_payment_webhook_age_seconds", frozenset()) in settled
    assert value(settled, "soldout_units", launch=launch_id, sku="A", state="paid") == 1


# -- in-process, on a fake clock ------------------------------------------------------
ADMIN = "adm_in_process_token_for_metrics_tests"


class Shop:
    def __init__(self, platform: Platform, clock: FakeClock, api: httpx.AsyncClient) -> None:
        self.platform, self.clock, self.api = platform, clock, api

    async def samples(self) -> Samples:
        response = await self.api.get("/metrics")
        assert response.status_code == 200, response.text
        return parse(response.text)

    async def launch(self, **fields: Any) -> str:
        skus = [{"code": "A", "name": "A", "price": 1000, "currency": "EUR", "cost": 900}]
        product = await self.api.post("/api/v1/products", json={"name": "One", "skus": skus})
        assert product.status_code == 201, product.text
        body = {
            "product_id": product.json()["id"],
            "title": "round one",
            "sale_opens_at": (self.clock.now() - timedelta(seconds=1)).isoformat(),
            "batch": {"A": 5},
            "race": "fast",
            **fields,
        }
        made = await self.api.post("/api/v1/launches", json=body)
        assert made.status_code == 201, made.text
        launch_id: str = made.json()["id"]
        return launch_id

    async def fan(self) -> str:
        name = uuid.uuid4().hex[:10]
        made = await self.api.post("/api/v1/fans", json={"email": f"{name}@f.test", "name": name})
        assert made.status_code == 201, made.text
        token: str = made.json()["token"]
        return token


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = FakeClock()
    platform = Platform(InMemoryStore(), TokenSigner(None, ADMIN), clock, payment_timeout=1.0)
    transport = httpx.ASGITransport(build_app(platform))
    headers = {"authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://shop.test", headers=headers
    ) as api:
        await platform.start(sweep=False)  # the test runs the sweeper's pass itself
        try:
            yield Shop(platform, clock, api)
        finally:
            await platform.stop()


async def test_the_sweepers_lag_is_how_late_the_oldest_expiry_is(shop: Shop) -> None:
    launch_id = await shop.launch(payment_window_seconds=60)
    token = await shop.fan()
    held = await shop.api.post(
        f"/api/v1/launches/{launch_id}/claims",
        json={"sku": "A"},
        headers={"authorization": f"Bearer {token}", "idempotency-key": "k1"},
    )
    assert held.status_code == 201, held.text
    assert value(await shop.samples(), "soldout_sweeper_lag_seconds") == 0
    shop.clock.advance(60 + 7)  # the claim's window closed 7 s ago; no sweep yet
    samples = await shop.samples()
    assert value(samples, "soldout_sweeper_lag_seconds") == pytest.approx(7, abs=0.01)
    assert value(samples, "soldout_units", launch=launch_id, sku="A", state="held") == 1
    assert await shop.platform.engine.expire_due() == 1
    samples = await shop.samples()
    assert value(samples, "soldout_sweeper_lag_seconds") == 0
    assert value(samples, "soldout_units", launch=launch_id, sku="A", state="available") == 5


async def test_a_waiting_room_shows_its_crowd_and_its_admissions(shop: Shop) -> None:
    opens = shop.clock.now() + timedelta(seconds=10)
    launch_id = await shop.launch(
        sale_opens_at=opens.isoformat(), waiting_room_rate=1.0, waiting_room_burst=1
    )
    for _ in range(5):
        joined = await shop.api.post(
            f"/api/v1/launches/{launch_id}/waiting-room",
            headers={"authorization": f"Bearer {await shop.fan()}"},
        )
        assert joined.status_code == 200, joined.text
    samples = await shop.samples()
    assert value(samples, "soldout_waiting_room_fans", launch=launch_id) == 5
    assert value(samples, "soldout_waiting_room_admissions_total", launch=launch_id) == 0
    shop.clock.advance(10 + 2.5)  # open 2.5 s: the burst of 1, then one a second
    samples = await shop.samples()
    assert value(samples, "soldout_waiting_room_admissions_total", launch=launch_id) == 3
    assert value(samples, "soldout_waiting_room_fans", launch=launch_id) == 2


async def test_the_outbox_backlog_and_how_late_it_is(shop: Shop) -> None:
    assert value(await shop.samples(), "soldout_outbox_pending") == 0
    token = await shop.fan()
    fan_id = shop.platform.tokens.fan_of(token)
    assert fan_id is not None
    notes = [
        Notification(uuid.uuid4().hex, fan_id, "test", f"note {i}", shop.clock.now())
        for i in range(3)
    ]
    await shop.platform.store.notifications.add_many(notes)
    shop.clock.advance(42)  # nobody sends them (no outbox runs here)
    samples = await shop.samples()
    assert value(samples, "soldout_outbox_pending") == 3
    assert value(samples, "soldout_outbox_oldest_due_seconds") == pytest.approx(42, abs=0.01)


async def test_a_store_that_cannot_be_read_leaves_the_scrape_answering(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With PostgreSQL down /metrics answered 503 (the outbox is counted in the store), so
    nobody could scrape the `soldout_store_failed` that says so."""

    async def down() -> int:
        raise StorageUnavailable()

    monkeypatch.setattr(shop.platform.store.notifications, "email_backlog", down)
    samples = await shop.samples()  # (200, or it fails here)
    assert math.isnan(value(samples, "soldout_outbox_pending"))
    assert math.isnan(value(samples, "soldout_outbox_oldest_due_seconds"))
