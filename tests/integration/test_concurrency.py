"""Hundreds of fans racing for one small batch over real HTTP, against a real server.

Every fan has its own clients (two phones, each with its own connection pool, connected
before the sale), so several hundred connections are open at once and all requests leave
together from a start line. Every client retries with the same Idempotency-Key (some while
the first request is still in flight on the other connection, some after its answer). The
sale must never grant more than the batch or the per-fan limit, and a retry must never buy
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support import ADMIN_TOKEN, ServerProcess, create_launch, shipping_address

BATCH = 50
LIMIT = 2
REFUSALS = {"sold_out", "limit_reached", "insufficient_stock"}
# One TLS context for every client: httpx builds one per client otherwise, which is slow
# enough (tens of ms) to spread the crowd out in time. The server is plain HTTP anyway.
_TLS = ssl.create_default_context()


@dataclass
class Fan:
    id: str
    token: str
    http: httpx.AsyncClient  # this fan's phone: its own connection pool
    spare: httpx.AsyncClient  # and a second device, or a second connection of the phone


@dataclass
class Attempt:
    """One intended purchase: a fan, an Idempotency-Key and every answer it got."""

    fan: Fan
    key: str
    quantity: int
    answers: list[httpx.Response] = field(default_factory=list)

    @property
    def granted(self) -> dict[str, Any] | None:
        """The claim the fan was told about (a 201 or 200 body), if any."""
        for answer in self.answers:
            if answer.status_code in (200, 201):
                body: dict[str, Any] = answer.json()
                return body
        return None


class StartLine:
    """A barrier: every client waits until all of them are ready, then all go at once."""

    def __init__(self, parties: int) -> None:
        self._waiting = parties
        self._go = asyncio.Event()

    async def reached(self) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self._go.set()
        await self._go.wait()


def phone(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        timeout=30,
        verify=_TLS,
        limits=httpx.Limits(max_connections=8),
    )


async def register_fans(
    server: ServerProcess, stack: contextlib.AsyncExitStack, count: int
) -> list[Fan]:
    async def one() -> Fan:
        http = await stack.enter_async_context(phone(server))
        spare = await stack.enter_async_context(phone(server))
        name = uuid.uuid4().hex[:12]
        response = await http.post(
            "/api/v1/fans", json={"email": f"{name}@fans.test", "name": name}
        )
        assert response.status_code == 201, response.text
        # Both devices are connected before the sale, so that neither starts late.
        assert (await spare.get("/healthz")).status_code == 200
        return Fan(response.json()["id"], response.json()["token"], http, spare)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def send(launch_id: str, attempt: Attempt, spare: bool = False) -> None:
    http = attempt.fan.spare if spare else attempt.fan.http
    response = await http.post(
        f"/api/v1/launches/{launch_id}/claims",
        json={"sku": "A", "quantity": attempt.quantity},
        headers={"authorization": f"Bearer {attempt.fan.token}", "idempotency-key": attempt.key},
    )
    attempt.answers.append(response)


async def stats_of(http: httpx.AsyncClient, launch_id: str) -> dict[str, Any]:
    response = await http.get(
        f"/api/v1/launches/{launch_id}/stats", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


async def fetch_claim(fan: Fan, claim_id: str) -> httpx.Response:
    return await fan.http.get(
        f"/api/v1/claims/{claim_id}", headers={"authorization": f"Bearer {fan.token}"}
    )


def check_answers_of_one_key(attempt: Attempt) -> None:
    """Either every answer is a refusal, or exactly one 201 and every other answer is a 200
    replay with the same body. A retry never turns a claim into a refusal or a second claim."""
    statuses = sorted(a.status_code for a in attempt.answers)
    for answer in attempt.answers:
        assert answer.status_code in (200, 201, 409), answer.text
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] in REFUSALS, answer.text
    if 201 in statuses or 200 in statuses:
        assert statuses.count(201) == 1, f"key {attempt.key}: {statuses}"
        assert set(statuses) <= {200, 201}, f"key {attempt.key}: a claim and a refusal {statuses}"
        first = next(a for a in attempt.answers if a.status_code == 201).json()
        assert first["quantity"] == attempt.quantity
        assert first["sku"] == "A"
        for replay in attempt.answers:
            assert replay.json() == first, "a replay must answer exactly the first claim"


async def check_claims_are_the_fans_own(attempts: list[Attempt], stranger: Fan) -> None:
    """Every claim a fan was told about can be fetched by that fan, as told; by no one else."""

    async def check(attempt: Attempt) -> None:
        told = attempt.granted
        assert told is not None
        own = await fetch_claim(attempt.fan, told["id"])
        assert own.status_code == 200, own.text
        body = own.json()
        assert {k: body[k] for k in told} == told
        assert body["state"] == "held"
        other = await fetch_claim(stranger, told["id"])
        assert other.status_code == 404, other.text

    await asyncio.gather(*(check(a) for a in attempts if a.granted is not None))


async def race_with_retries(server: ServerProcess, launch_id: str) -> None:
    fans_count = 220
    async with contextlib.AsyncExitStack() as stack:
        fans = await register_fans(server, stack, fans_count + 1)
        stranger = fans.pop()
        attempts: list[Attempt] = []
        plans: list[tuple[Attempt, str]] = []  # each attempt and how its client retries
        for i, fan in enumerate(fans):
            first = Attempt(fan, uuid.uuid4().hex, 2 if i % 4 == 0 else 1)
            attempts.append(first)
            if i % 4 == 1:
                # The same fan on a second device at the same time, asking for 2 more: over
                # the limit together.
                second = Attempt(fan, uuid.uuid4().hex, 2)
                attempts.append(second)
                plans += [(first, "after_answer"), (second, "after_answer_on_spare")]
            else:
                plans.append((first, ("in_flight", "after_answer", "both")[i % 3]))
        # Arrival order mixes the kinds of clients; a fixed seed keeps runs comparable.
        random.Random(20).shuffle(plans)
        start_line = StartLine(len(plans))

        async def client(attempt: Attempt, retry: str) -> None:
            await start_line.reached()
            spare = retry == "after_answer_on_spare"
            sends = [send(launch_id, attempt, spare)]
            if retry in ("in_flight", "both"):
                # The same key twice at once on two connections: a double tap, or a retry
                # on a slow network while the first request is still on its way.
                sends.append(send(launch_id, attempt, spare=True))
            await asyncio.gather(*sends)  # one code path for all: none starts later
            if retry != "in_flight":
                await send(launch_id, attempt, spare)

        await asyncio.gather(*(client(a, r) for a, r in plans))

        for attempt in attempts:
            check_answers_of_one_key(attempt)

        claims = [a.granted for a in attempts if a.granted is not None]
        claim_ids = {c["id"] for c in claims}
        assert len(claim_ids) == len(claims), "two keys were answered with the same claim"
        assert len(claim_ids) <= BATCH
        units = sum(c["quantity"] for c in claims)
        # More than BATCH fans ask for a single unit under their only key, and such a claim
        # is only refused once nothing is left: so the batch sells out exactly.
        assert units == BATCH
        assert any(a.granted is None for a in attempts)

        per_fan: dict[str, int] = defaultdict(int)
        for attempt in attempts:
            told = attempt.granted
            if told is not None:
                per_fan[attempt.fan.id] += told["quantity"]
        assert max(per_fan.values()) <= LIMIT, f"a fan holds {max(per_fan.values())} units"

        stats = await stats_of(stranger.http, launch_id)
        sku = stats["skus"]["A"]
        assert sku["batch"] == BATCH
        assert sku["held"] + sku["paid"] == units
        assert sku["available"] == 0
        assert stats["claims"].get("held", 0) == len(claim_ids)

        await check_claims_are_the_fans_own(attempts, stranger)


def test_a_crowd_retrying_its_requests_never_gets_more_than_the_batch(
    shared_server: ServerProcess,
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": BATCH}, per_fan_limit=LIMIT)
    asyncio.run(race_with_retries(shared_server, launch["id"]))


async def fans_on_many_devices(server: ServerProcess, launch_id: str) -> None:
    fans_count, devices = 4, 60
    async with contextlib.AsyncExitStack() as stack:
        fans = await register_fans(server, stack, fans_count + 1)
        stranger = fans.pop()
        attempts: list[Attempt] = []
        for fan in fans:
            for d in range(devices):
                # Each device of the fan has its own connections but the fan's token.
                http = await stack.enter_async_context(phone(server))
                device = Fan(fan.id, fan.token, http, http)
                attempts.append(Attempt(device, uuid.uuid4().hex, 1 + d % 2))
        start_line = StartLine(len(attempts))

        async def client(attempt: Attempt) -> None:
            await start_line.reached()
            await send(launch_id, attempt)

        await asyncio.gather(*(client(a) for a in attempts))

        per_fan: dict[str, int] = defaultdict(int)
        for attempt in attempts:
            (answer,) = attempt.answers
            if answer.status_code == 201:
                assert answer.json()["quantity"] == attempt.quantity
                per_fan[attempt.fan.id] += attempt.quantity
            else:
                # The batch is far larger than 4 fans x 2: the limit is the only reason.
                assert answer.status_code == 409, answer.text
                assert answer.json()["error"]["code"] == "limit_reached", answer.text
        # Each fan sent many single-unit requests, and one is only refused at the limit: so
        # every fan ends with exactly the limit, never more.
        assert per_fan == {fan.id: LIMIT for fan in fans}

        stats = await stats_of(stranger.http, launch_id)
        assert stats["skus"]["A"]["held"] == LIMIT * fans_count
        assert stats["skus"]["A"]["available"] == BATCH - LIMIT * fans_count
        await check_claims_are_the_fans_own(attempts, stranger)


def test_a_fan_on_many_devices_never_gets_more_than_the_per_fan_limit(
    shared_server: ServerProcess,
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": BATCH}, per_fan_limit=LIMIT)
    asyncio.run(fans_on_many_devices(shared_server, launch["id"]))


async def the_last_units(server: ServerProcess, launch_id: str, batch: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        fans = await register_fans(server, stack, 100)
        attempts = [Attempt(fan, uuid.uuid4().hex, 2) for fan in fans]
        start_line = StartLine(len(attempts))

        async def client(attempt: Attempt) -> None:
            await start_line.reached()
            await send(launch_id, attempt)

        await asyncio.gather(*(client(a) for a in attempts))

        granted = [a for a in attempts if a.answers[0].status_code == 201]
        # batch // 2 pairs fit into an odd batch; its last unit is never half of a pair.
        assert len(granted) == batch // 2
        for attempt in attempts:
            if attempt not in granted:
                answer = attempt.answers[0]
                assert answer.status_code == 409, answer.text
                assert answer.json()["error"]["code"] == "insufficient_stock", answer.text
        sku = (await stats_of(fans[0].http, launch_id))["skus"]["A"]
        assert (sku["held"], sku["available"]) == (batch - 1, 1)

        # The last unit goes to the next fan who asks for one; then it is sold out.
        refused = [a.fan for a in attempts if a not in granted]
        late, later = (
            Attempt(refused[0], uuid.uuid4().hex, 1),
            Attempt(refused[1], uuid.uuid4().hex, 1),
        )
        await send(launch_id, late)
        assert late.answers[0].status_code == 201, late.answers[0].text
        await send(launch_id, later)
        assert later.answers[0].status_code == 409, later.answers[0].text
        assert later.answers[0].json()["error"]["code"] == "sold_out"
        sku = (await stats_of(fans[0].http, launch_id))["skus"]["A"]
        assert (sku["held"], sku["available"]) == (batch, 0)


def test_a_claim_for_more_units_than_are_left_is_refused_whole(
    shared_server: ServerProcess,
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5}, per_fan_limit=LIMIT)
    asyncio.run(the_last_units(shared_server, launch["id"], 5))


async def counts_while_a_crowd_buys(server: ServerProcess, launch_id: str, batch: int) -> None:
    """Fans claim and half of those who get a unit pay at once, all together, while a
    watcher reads the public launch over and over. Every public reading is one consistent
    moment of the engine (its parts add up to the batch, paid units never go back); at the
    end the public counts are the engine's (the admin's stats) and what the fans were told."""
    async with contextlib.AsyncExitStack() as stack:
        fans = await register_fans(server, stack, batch * 2 + 1)
        watcher = fans.pop()
        for fan in fans:
            response = await fan.http.put(
                "/api/v1/me/shipping",
                json=shipping_address(fan.id),
                headers={"authorization": f"Bearer {fan.token}"},
            )
            assert response.status_code == 200, response.text
        start_line = StartLine(len(fans) + 1)
        done = asyncio.Event()
        readings: list[dict[str, int]] = []
        paid: list[str] = []

        async def buyer(fan: Fan, pays: bool) -> int:
            await start_line.reached()
            attempt = Attempt(fan, uuid.uuid4().hex, 1)
            await send(launch_id, attempt)
            claim = attempt.granted
            if claim is None or not pays:
                return 0 if claim is None else 1
            answer = await fan.http.post(
                f"/api/v1/claims/{claim['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={
                    "authorization": f"Bearer {fan.token}",
                    "idempotency-key": uuid.uuid4().hex,
                },
            )
            assert answer.status_code == 200, answer.text
            paid.append(claim["id"])
            return 1

        async def watch() -> None:
            await start_line.reached()
            while not done.is_set():
                response = await watcher.http.get(f"/api/v1/launches/{launch_id}")
                assert response.status_code == 200, response.text
                (sku,) = [s for s in response.json()["skus"] if s["code"] == "A"]
                readings.append(sku)

        watching = asyncio.ensure_future(watch())
        granted = await asyncio.gather(*(buyer(f, i % 2 == 0) for i, f in enumerate(fans)))
        done.set()
        await watching
        print(f"{len(readings)} public readings while the crowd bought")

        assert readings  # at least one while the crowd bought (how many depends on the box)
        sold_before = 0
        for r in readings:
            assert r["available"] + r["set_aside"] + r["held"] + r["sold"] == r["batch"], r
            assert min(r["available"], r["held"], r["sold"]) >= 0, r
            assert r["sold_out"] == (r["available"] == 0), r
            assert r["sold"] >= sold_before, "a paid unit went back in a public reading"
            sold_before = r["sold"]

        public = (await watcher.http.get(f"/api/v1/launches/{launch_id}")).json()
        (sku,) = [s for s in public["skus"] if s["code"] == "A"]
        engine = (await stats_of(watcher.http, launch_id))["skus"]["A"]
        assert sum(granted) == batch  # twice as many fans as units: it sold out
        assert (sku["available"], sku["held"], sku["sold"]) == (
            engine["available"],
            engine["held"],
            engine["paid"],
        )
        assert (sku["held"], sku["sold"]) == (batch - len(paid), len(paid))


def test_public_counts_are_the_engines_while_a_crowd_buys(shared_server: ServerProcess) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 40}, per_fan_limit=1)
    asyncio.run(counts_while_a_crowd_buys(shared_server, launch["id"], 40))
