"""SIGKILL the server in the middle of a sale, restart it on the same data, and check that
nothing a fan was told about is lost, nothing is sold twice, and nothing is oversold: on
the embedded SQLite store and on PostgreSQL alike.

Clients behave as phones do: a request that loses its connection is sent again, with the
same Idempotency-Key, once the server is back. Kills are triggered by counting answers, and
clients wait for the restart on a condition: no timing guesses.

For a kill to land mid-sale, the clients must read answers about as fast as the server
writes them. So they speak HTTP/1.1 over plain asyncio streams (h11, which httpx is built
on: httpx spends milliseconds of CPU per request, and the server would finish the whole sale
before the clients had read ten answers), and fans come in a few at a time (as one leaves,
the next comes in) rather than all at once, so the sale is still running at every kill and
requests are in flight: decided and durable but not yet answered, decided but not yet
durable, or not yet read.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import pytest

from tests.support import (
    ADMIN_TOKEN,
    STORES,
    ServerProcess,
    create_launch,
    server_on,
    shipping_address,
)

pytest_plugins = ["tests.postgres"]

REFUSALS = {"sold_out", "limit_reached", "insufficient_stock"}


class Broken(Exception):
    """The connection failed before a whole answer arrived."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


async def call(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    key: str | None = None,
    body: Any = None,
) -> Answer:
    """One HTTP/1.1 exchange on a fresh connection (so none outlives a killed server)."""
    headers = [("host", "127.0.0.1"), ("connection", "close")]
    if token is not None:
        headers.append(("authorization", f"Bearer {token}"))
    if key is not None:
        headers.append(("idempotency-key", key))
    payload = b"" if body is None else json.dumps(body).encode()
    headers += [("content-type", "application/json"), ("content-length", str(len(payload)))]
    http = h11.Connection(h11.CLIENT)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        raise Broken(str(exc)) from exc
    try:
        writer.write(
            http.send(h11.Request(method=method, target=path, headers=headers))
            + http.send(h11.Data(data=payload))
            + http.send(h11.EndOfMessage())
        )
        status, content = 0, b""
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                try:
                    return Answer(status, json.loads(content))
                except ValueError:  # not JSON, e.g. a bare 500: keep it for the message
                    return Answer(status, content.decode(errors="replace"))
            elif isinstance(event, h11.ConnectionClosed):
                raise Broken("closed before the answer")
    except (OSError, h11.RemoteProtocolError) as exc:
        raise Broken(str(exc)) from exc
    finally:
        writer.close()


@dataclass
class Fan:
    id: str
    token: str


@dataclass
class Request:
    """One intended action of a fan (a claim or a payment) under one Idempotency-Key."""

    fan: Fan
    path: str
    body: dict[str, Any]
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    answers: list[Answer] = field(default_factory=list)
    interrupted: int = 0  # how often the connection broke before an answer

    @property
    def told(self) -> dict[str, Any] | None:
        """The success the fan was told about (a 201 or 200 body), if any."""
        for answer in self.answers:
            if answer.status in (200, 201):
                body: dict[str, Any] = answer.body
                return body
        return None


class Outages:
    """Kills and restarts of the server, triggered by counting told successes (201 or 200).

    `generation` is the server's incarnation: a client that cannot reach the server waits
    on `changed` until it grows, then sends again."""

    def __init__(self, server: ServerProcess, kill_after: list[int] | None = None) -> None:
        self.server = server
        self.kill_after = sorted(kill_after or [])  # told counts that trigger a SIGKILL
        self.generation = 0
        self.restarting = False
        self.kills = 0
        self.told = 0
        self.changed = asyncio.Condition()
        self._restarts: list[asyncio.Task[None]] = []

    def crash(self) -> None:
        """SIGKILL now, synchronously on the event loop: no client runs between the answer
        that triggered it and the kill. The restart runs in a thread; clients wait for it."""
        self.restarting = True
        self.server.kill()
        self.kills += 1
        self._restarts.append(asyncio.get_running_loop().create_task(self._restart()))

    async def _restart(self) -> None:
        await asyncio.to_thread(self.server.start)
        async with self.changed:
            self.generation += 1
            self.restarting = False
            self.changed.notify_all()

    async def back(self) -> None:
        """Wait for every restart begun so far."""
        await asyncio.gather(*self._restarts)

    async def kill_and_restart(self) -> None:
        await self.back()
        self.crash()
        await self.back()

    def _answered(self, told: bool) -> None:
        self.told += told
        if self.kill_after and self.told >= self.kill_after[0] and not self.restarting:
            self.kill_after.pop(0)
            self.crash()

    async def send(self, request: Request) -> Answer:
        """POST; if the connection breaks because the server died, wait for the restart and
        send again with the same Idempotency-Key, until an HTTP answer arrives."""
        while True:
            if self.restarting:  # the server is down: nobody can reach it until it is back
                down = self.generation
                async with self.changed:
                    await self.changed.wait_for(lambda g=down: self.generation > g)
            generation = self.generation
            try:
                answer = await call(
                    self.server.port,
                    "POST",
                    request.path,
                    token=request.fan.token,
                    key=request.key,
                    body=request.body,
                )
            except Broken:
                if not self.restarting and self.generation == generation:
                    raise  # the server was not killed: a real failure
                request.interrupted += 1
                continue
            first_told = request.told is None and answer.status in (200, 201)
            request.answers.append(answer)
            self._answered(first_told)
            return answer

    async def get(self, path: str, token: str) -> Answer:
        return await call(self.server.port, "GET", path, token=token)

    async def stats(self, launch_id: str) -> dict[str, Any]:
        answer = await self.get(f"/api/v1/launches/{launch_id}/stats", ADMIN_TOKEN)
        assert answer.status == 200, answer.body
        stats: dict[str, Any] = answer.body
        return stats

    async def register(self, count: int) -> list[Fan]:
        async def one() -> Fan:
            name = uuid.uuid4().hex[:12]
            body = {"email": f"{name}@fans.test", "name": name, "shipping": shipping_address()}
            answer = await call(self.server.port, "POST", "/api/v1/fans", body=body)
            assert answer.status == 201, answer.body
            return Fan(answer.body["id"], answer.body["token"])

        return list(await asyncio.gather(*(one() for _ in range(count))))


def claim_request(fan: Fan, launch_id: str, quantity: int) -> Request:
    return Request(fan, f"/api/v1/launches/{launch_id}/claims", {"sku": "A", "quantity": quantity})


def check_one_key(request: Request) -> None:
    """Every answer under one key is the same claim, or every answer is a refusal."""
    for answer in request.answers:
        assert answer.status in (200, 201, 409), answer
        if answer.status == 409:
            assert answer.body["error"]["code"] in REFUSALS, answer
    told = request.told
    if told is not None:
        assert all(a.status in (200, 201) for a in request.answers), request.answers
        assert all(a.body == told for a in request.answers), "one key, two different claims"
        assert told["sku"] == "A"
        assert told["quantity"] == request.body["quantity"]


# -- a sale with three crashes ---------------------------------------------------------


FANS, BATCH, LIMIT = 200, 100, 2
AT_ONCE = 10  # fans buying at the same time; as one leaves, the next comes in
# Told claims that trigger a SIGKILL. At most AT_ONCE - 1 more answers are already on their
# way when one hits, and the batch makes at least 50 claims (of at most 2 units): so the
# sale cannot end before the last kill.
KILL_AFTER = [10, 30, 50]


async def sale_with_crashes(server: ServerProcess, launch_id: str) -> None:
    outages = Outages(server, kill_after=KILL_AFTER)
    fans = await outages.register(FANS + 1)
    stranger = fans.pop()
    requests: list[Request] = []
    door = asyncio.Semaphore(AT_ONCE)

    async def fan_buys(i: int, fan: Fan) -> None:
        async with door:
            first = claim_request(fan, launch_id, 2 if i % 5 == 0 else 1)
            requests.append(first)
            await outages.send(first)
            if i % 5 == 1:
                # Then 2 more, under a new key: over the limit if the first was granted,
                # also when the server restarted in between.
                second = claim_request(fan, launch_id, 2)
                requests.append(second)
                await outages.send(second)

    await asyncio.gather(*(fan_buys(i, fan) for i, fan in enumerate(fans)))
    await outages.back()
    assert outages.kills == len(KILL_AFTER), "the sale ended before every planned crash"
    assert sum(r.interrupted for r in requests) > 0, "no request was cut by a crash"

    # And once more after the sale: only what is durable survives this.
    await outages.kill_and_restart()

    for request in requests:
        check_one_key(request)
    told = [(r, r.told) for r in requests if r.told is not None]
    claim_ids = {claim["id"] for _, claim in told}
    assert len(claim_ids) == len(told), "two keys were answered with the same claim"
    units = sum(claim["quantity"] for _, claim in told)
    assert 0 < units <= BATCH

    per_fan: dict[str, int] = defaultdict(int)
    for request, claim in told:
        per_fan[request.fan.id] += claim["quantity"]
    assert max(per_fan.values()) <= LIMIT

    async def survives(request: Request, claim: dict[str, Any]) -> None:
        own = await outages.get(f"/api/v1/claims/{claim['id']}", request.fan.token)
        assert own.status == 200, own
        assert {k: own.body[k] for k in claim} == claim
        assert own.body["state"] == "held"
        other = await outages.get(f"/api/v1/claims/{claim['id']}", stranger.token)
        assert other.status == 404, other
        # A retry after the crashes still answers the same claim, and buys nothing more.
        replay = await outages.send(request)
        assert (replay.status, replay.body) == (200, claim)

    await asyncio.gather(*(survives(r, c) for r, c in told))

    stats = await outages.stats(launch_id)
    sku = stats["skus"]["A"]
    # Every client retried until it got an answer, so every durable claim was told to its
    # fan: what the server holds is exactly what the fans heard, never more.
    assert sku["held"] + sku["paid"] == units
    assert sku["held"] + sku["paid"] <= sku["batch"] == BATCH
    assert sku["available"] == BATCH - units
    assert stats["claims"].get("held", 0) == len(told)


@pytest.fixture(params=STORES)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on each store in turn: the embedded SQLite, then PostgreSQL (a kill of the
    server leaves the database running, as a crashed soldout process would)."""
    with server_on(request.param, tmp_path / "data", request) as server:
        yield server


def test_sigkill_mid_sale_loses_no_told_claim_and_never_oversells(server: ServerProcess) -> None:
    with server.admin() as admin:
        launch = create_launch(admin, batch={"A": BATCH}, per_fan_limit=LIMIT)
    asyncio.run(sale_with_crashes(server, launch["id"]))


# -- payments survive a crash -----------------------------------------------------------


PAYERS, HOLDERS = 20, 10


def payment_request(fan: Fan, claim_id: str, token: str = "tok_ok") -> Request:
    return Request(fan, f"/api/v1/claims/{claim_id}/payment", {"method": "test", "token": token})


async def payments_with_crashes(server: ServerProcess, launch_id: str) -> None:
    outages = Outages(server)
    fans = await outages.register(PAYERS + HOLDERS)
    claims = [claim_request(fan, launch_id, 1 + i % 2) for i, fan in enumerate(fans)]
    await asyncio.gather(*(outages.send(c) for c in claims))
    for request in claims:
        assert request.answers[-1].status == 201, request.answers[-1]
    claim_ids = [c.answers[0].body["id"] for c in claims]
    payers, holders = claims[:PAYERS], claims[PAYERS:]

    # A declined card leaves the claim held and makes no order.
    declined = payment_request(holders[0].fan, claim_ids[PAYERS], "tok_decline")
    assert (await outages.send(declined)).status == 402

    payments = [payment_request(c.fan, i) for c, i in zip(payers, claim_ids[:PAYERS], strict=True)]
    outages.kill_after = [outages.told + PAYERS // 4]  # after a quarter of the payments
    door = asyncio.Semaphore(4)

    async def pay(payment: Request) -> None:
        async with door:
            await outages.send(payment)

    await asyncio.gather(*(pay(p) for p in payments))
    await outages.back()
    assert outages.kills == 1
    for payment in payments:
        assert [a.status for a in payment.answers] == [200], payment.answers
    # SIGKILL right after the last payment was answered: no shutdown hook runs.
    await outages.kill_and_restart()

    paid_units = 0
    for claim, claim_id, payment in zip(payers, claim_ids[:PAYERS], payments, strict=True):
        order = payment.told
        assert order is not None
        assert (order["claim_id"], order["quantity"]) == (claim_id, claim.body["quantity"])
        paid_units += order["quantity"]
        orders = await outages.get("/api/v1/me/orders", claim.fan.token)
        assert orders.status == 200, orders
        assert orders.body == [order], "a paid order was lost or duplicated in the crash"
        state = await outages.get(f"/api/v1/claims/{claim_id}", claim.fan.token)
        assert (state.body["state"], state.body["order_id"]) == ("paid", order["id"])
        # Paying again: the same key replays the order, a new key is refused.
        replay = await outages.send(payment)
        assert (replay.status, replay.body) == (200, order)
        refused = await outages.send(payment_request(claim.fan, claim_id))
        assert refused.status == 409, refused
        assert refused.body["error"]["code"] == "already_paid"

    held_units = 0
    for claim, claim_id in zip(holders, claim_ids[PAYERS:], strict=True):
        held_units += claim.body["quantity"]
        orders = await outages.get("/api/v1/me/orders", claim.fan.token)
        assert (orders.status, orders.body) == (200, [])
        state = await outages.get(f"/api/v1/claims/{claim_id}", claim.fan.token)
        assert (state.body["state"], state.body["order_id"]) == ("held", None)

    stats = await outages.stats(launch_id)
    sku = stats["skus"]["A"]
    assert (sku["paid"], sku["held"]) == (paid_units, held_units)
    assert sku["available"] == sku["batch"] - paid_units - held_units
    assert stats["claims"] == {"held": HOLDERS, "paid": PAYERS, "expired": 0, "cancelled": 0}

    # A claim still held after the crash can be paid, and is counted.
    late = payment_request(holders[1].fan, claim_ids[PAYERS + 1])
    assert (await outages.send(late)).status == 200
    after = (await outages.stats(launch_id))["skus"]["A"]
    late_units = holders[1].body["quantity"]
    assert (after["paid"], after["held"]) == (paid_units + late_units, held_units - late_units)


def test_paid_orders_survive_sigkill(server: ServerProcess) -> None:
    with server.admin() as admin:
        launch = create_launch(admin, batch={"A": 60}, per_fan_limit=LIMIT)
    asyncio.run(payments_with_crashes(server, launch["id"]))
