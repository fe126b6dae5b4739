"""One claim path: the hot path in front of the app, and the FastAPI claim route behind
it (what answers when the app runs without the hot path), give the same answers, because
both hand the request to `ClaimCore`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.api.pay_core import PayCore
from soldout.clock import FakeClock
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import ServerProcess, create_launch, register, shipping_address

ADMIN = "adm_in_process_token_for_claim_paths"


@pytest.fixture
async def clients() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, str]]:
    """(through the hot path, straight to the FastAPI app, a launch of 2 units on sale)."""
    clock = FakeClock()
    platform = Platform(InMemoryStore(), TokenSigner(None, ADMIN), clock)
    front = build_app(platform)
    admin = {"authorization": f"Bearer {ADMIN}"}
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(front), base_url="http://t") as hot,
        httpx.AsyncClient(transport=httpx.ASGITransport(front.app), base_url="http://t") as app,
    ):
        await platform.start(sweep=False)
        try:
            skus = [{"code": "A", "name": "A", "price": 1000, "currency": "EUR", "cost": 900}]
            product = await hot.post(
                "/api/v1/products", json={"name": "One", "skus": skus}, headers=admin
            )
            assert product.status_code == 201, product.text
            launch = await hot.post(
                "/api/v1/launches",
                headers=admin,
                json={
                    "product_id": product.json()["id"],
                    "title": "round one",
                    "sale_opens_at": (clock.now() - timedelta(seconds=1)).isoformat(),
                    "batch": {"A": 2},
                    "race": "fast",
                },
            )
            assert launch.status_code == 201, launch.text
            yield hot, app, launch.json()["id"]
        finally:
            await platform.stop()


async def fan(client: httpx.AsyncClient) -> str:
    name = uuid.uuid4().hex[:10]
    made = await client.post("/api/v1/fans", json={"email": f"{name}@f.test", "name": name})
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


async def claim(
    client: httpx.AsyncClient, launch_id: str, token: str | None, key: str, **body: Any
) -> httpx.Response:
    headers = {"idempotency-key": key}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await client.post(
        f"/api/v1/launches/{launch_id}/claims", json={"sku": "A", **body}, headers=headers
    )


async def test_the_route_behind_the_hot_path_answers_as_it_does(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, str],
) -> None:
    hot, app, launch_id = clients
    ann, bob, cy = await fan(hot), await fan(hot), await fan(hot)
    # a claim through each, and each one's replay through the other
    first, second = await claim(hot, launch_id, ann, "k1"), await claim(app, launch_id, bob, "k2")
    assert (first.status_code, second.status_code) == (201, 201)
    again = await claim(app, launch_id, ann, "k1")
    assert (again.status_code, again.json()) == (200, first.json())
    again = await claim(hot, launch_id, bob, "k2")
    assert (again.status_code, again.json()) == (200, second.json())
    # the batch is gone: the same refusal from both, in the one error shape
    for client in (hot, app):
        gone = await claim(client, launch_id, cy, uuid.uuid4().hex)
        assert gone.status_code == 409
        assert gone.json()["error"]["code"] == "sold_out"
        unknown = await claim(client, launch_id, None, uuid.uuid4().hex)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (401, "unauthorized")
        bad = await claim(client, launch_id, cy, uuid.uuid4().hex, colour="red")
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "colour")
    # and both are counted in the same place
    scrape = await hot.get("/metrics", headers={"authorization": f"Bearer {ADMIN}"})
    assert 'soldout_claims_total{code="created"} 2.0' in scrape.text
    assert 'soldout_claims_total{code="replayed"} 2.0' in scrape.text
    assert 'soldout_claims_total{code="sold_out"} 2.0' in scrape.text


async def pay(
    client: httpx.AsyncClient,
    claim_id: str,
    token: str | None,
    key: str | None,
    content: bytes = b'{"method": "test", "token": "tok_ok"}',
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if key is not None:
        headers["idempotency-key"] = key
    return await client.post(f"/api/v1/claims/{claim_id}/payment", content=content, headers=headers)


async def test_a_payment_is_answered_in_front_of_the_app_as_the_route_answers_it(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`PayCore` answers the plain payment itself and hands anything else to the app whole:
    every answer, the order and each refusal, is the same through either."""
    answered: list[int] = []
    answer = PayCore.answer

    async def counted(core: PayCore, *args: Any) -> Any:
        result = await answer(core, *args)
        answered.append(0 if result is None else result[0])
        return result

    monkeypatch.setattr(PayCore, "answer", counted)
    hot, app, launch_id = clients
    ann, bob = await fan(hot), await fan(hot)
    for token in (ann, bob):
        address = await hot.put(
            "/api/v1/me/shipping",
            json=shipping_address(),
            headers={"authorization": f"Bearer {token}"},
        )
        assert address.status_code == 200, address.text
    held = {t: (await claim(hot, launch_id, t, uuid.uuid4().hex)).json()["id"] for t in (ann, bob)}
    deep = b"[" * 900 + b"]" * 900  # (deeper than Python's recursion: never walked)
    # the refusals, through each, in the one error shape
    for client in (hot, app):
        seen = [
            await pay(client, held[ann], bob, "k"),  # another fan's claim
            await pay(client, held[ann], None, "k"),
            await pay(client, held[ann], ann, None),
            await pay(client, held[ann], ann, "k", b'{"method": "test"}'),
            await pay(client, held[ann], ann, "k", b'{"method": "test", "token": "tok_decline"}'),
            await pay(client, held[ann], ann, "k", b'{"method": "test", "method": "card"}'),
            await pay(client, held[ann], ann, "k", b'{"method": "test", "colour": "red"}'),
            await pay(client, held[ann], ann, "k", b"{not json"),
            await pay(client, held[ann], ann, "k", b'{"method": "test", "x": ' + deep + b"}"),
        ]
        assert [
            (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]) for r in seen
        ] == [
            (404, "not_found", None),
            (401, "unauthorized", None),
            (422, "missing_idempotency_key", "Idempotency-Key"),
            (422, "invalid", "token"),
            (402, "payment_declined", "token"),
            (422, "duplicate_key", "method"),
            (422, "invalid", "colour"),
            (400, "malformed_json", None),
            (422, "invalid", "x"),
        ], [r.text for r in seen]
    # each fan pays through one, and the retry through the other replays it
    first = await pay(hot, held[ann], ann, "pay-ann")
    second = await pay(app, held[bob], bob, "pay-bob")
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["claim_id"] == held[ann]
    assert (await pay(app, held[ann], ann, "pay-ann")).json() == first.json()
    assert (await pay(hot, held[bob], bob, "pay-bob")).json() == second.json()
    # the plain ones were answered in front of the app; the others by the app
    assert answered == [404, 0, 422, 422, 402, 0, 0, 0, 0, 200, 200]


async def test_a_header_given_twice_is_read_as_the_app_reads_it(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, str],
) -> None:
    """A client may send a header twice. The front paths must not read another fan than
    the app would: the app takes the first `Authorization`."""
    hot, app, launch_id = clients
    ann, bob = await fan(hot), await fan(hot)
    address = await hot.put(
        "/api/v1/me/shipping", json=shipping_address(), headers={"authorization": f"Bearer {bob}"}
    )
    assert address.status_code == 200, address.text
    # a claim: made by the first named, through either (one each: one unit a fan)
    made = {}
    for client, first, second in ((hot, bob, ann), (app, ann, bob)):
        answer = await client.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": "A"},
            headers=[
                ("idempotency-key", "twice"),
                ("authorization", f"Bearer {first}"),
                ("authorization", f"Bearer {second}"),
            ],
        )
        assert answer.status_code == 201, answer.text
        made[first] = answer.json()["id"]
        for token, status in ((first, 200), (second, 404)):
            seen = await hot.get(
                f"/api/v1/claims/{made[first]}", headers={"authorization": f"Bearer {token}"}
            )
            assert seen.status_code == status, seen.text
    # a payment of Bob's claim with Ann named first: not hers, through either
    body = b'{"method": "test", "token": "tok_ok"}'
    twice = [
        ("content-type", "application/json"),
        ("idempotency-key", "twice"),
        ("authorization", f"Bearer {ann}"),
        ("authorization", f"Bearer {bob}"),
    ]
    for client in (hot, app):
        refused = await client.post(
            f"/api/v1/claims/{made[bob]}/payment", content=body, headers=twice
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    # nothing was paid: Bob's own request pays once
    paid = await pay(hot, made[bob], bob, "bob-pays")
    assert paid.status_code == 200, paid.text


def test_granian_reads_a_header_given_twice_as_the_app_does(shared_server: ServerProcess) -> None:
    """The same over Granian's RSGI interface, the default server: the first
    `Authorization` names the fan, for a claim and for a payment."""
    with shared_server.client() as anyone, shared_server.admin() as admin:
        launch_id = create_launch(admin, batch={"A": 5})["id"]
        ann, bob = register(anyone)["token"], register(anyone)["token"]
        made = anyone.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": "A"},
            headers=[
                ("idempotency-key", uuid.uuid4().hex),
                ("authorization", f"Bearer {bob}"),
                ("authorization", f"Bearer {ann}"),
            ],
        )
        assert made.status_code == 201, made.text
        claim_id = made.json()["id"]
        for token, status in ((bob, 200), (ann, 404)):
            seen = anyone.get(
                f"/api/v1/claims/{claim_id}", headers={"authorization": f"Bearer {token}"}
            )
            assert seen.status_code == status, seen.text
        refused = anyone.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers=[
                ("idempotency-key", uuid.uuid4().hex),
                ("authorization", f"Bearer {ann}"),
                ("authorization", f"Bearer {bob}"),
            ],
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
